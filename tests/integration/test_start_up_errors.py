"""Start-up errors of the real servers (Kafka, Neo4j, PostgreSQL, Flink), each in a state folder and on ports
of its own: one line naming the service and the log that says why, the server's own words in that log, and
nothing left running. (FalkorDB's are in tests/unit/test_stack_errors.py: its server starts in milliseconds.)"""

from __future__ import annotations

import os
import re
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from argus_dev.stack.base import Ports, Service, StackLayout
from argus_dev.stack.flink import FlinkService, render_config
from argus_dev.stack.kafka import KafkaService
from argus_dev.stack.manager import GENERATED_SECRETS, Stack
from argus_dev.stack.neo4j import Neo4jService
from argus_dev.stack.postgres import PostgresService

from argus_streams.errors import ServiceStartError

from .test_stack_down import processes_of

SECRETS = {name: "Start0Errors0Secret" for name in GENERATED_SECRETS} | {
    "KAFKA_ADMIN_USER": "admin", "REDPANDA_SASL_USERNAME": "argus-service", "NEO4J_USER": "neo4j",
}


def bindable(port: int) -> bool:
    """Nothing listens on the port and no connection uses it as its local end (a client's ephemeral port)."""
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_layout(state_dir: Path) -> StackLayout:
    """The default ports moved to where none is taken (the user's and the test stack's stay untouched). The first
    offsets keep every port below the kernel's ephemeral range (32768-60999), where a client connection may
    take a port between this check and the server's bind."""
    for offset in (*range(20_000, 24_000, 1_000), *range(30_000, 56_000, 1_000)):
        ports = Ports().shifted(offset)
        if all(bindable(port) for port in vars(ports).values()):
            return StackLayout(state_dir=state_dir, ports=ports)
    raise AssertionError("no free port range")


@pytest.fixture
def layout(tmp_path: Path) -> Iterator[StackLayout]:
    layout = free_layout(tmp_path / "stack")
    yield layout
    Stack(layout).down(report=lambda line: None)  # whatever a failed check left, never another stack's
    assert processes_of(layout.state_dir) == set()


def one_line(error: pytest.ExceptionInfo[ServiceStartError], pattern: str) -> str:
    message = str(error.value)
    assert "\n" not in message, message
    assert re.fullmatch(pattern, message), message
    return message


def log_of(message: str) -> str:
    """The text of the log the message names."""
    path = re.search(r"\(log: ([^)]+)\)", message).group(1)
    return Path(path).read_text(errors="replace")


def start(service: Service) -> None:
    service.start()
    service.wait_healthy(timeout=90)


@pytest.mark.parametrize("cls", [KafkaService, Neo4jService, PostgresService, FlinkService],
                         ids=lambda cls: cls.name)
def test_a_taken_port_is_one_line_and_nothing_starts(cls: type[Service], layout: StackLayout) -> None:
    service = cls(layout, SECRETS)
    port = service.ports()[-1]
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", port))
        squatter.listen()
        with pytest.raises(ServiceStartError) as error:
            start(service)
    # the holder is named: this test process, by pid and command
    one_line(error, rf"{cls.name}: port 127\.0\.0\.1:{port} is already taken by pid {os.getpid()} \(.*\) "
                    rf"\(log: {re.escape(str(service.log_path))}\)")
    assert not service.is_running()
    assert processes_of(layout.state_dir) == set()


def test_kafka_refusing_its_configuration(layout: StackLayout) -> None:
    """At the first start the storage format reads the configuration; later, the broker itself does."""
    class Misconfigured(KafkaService):
        def server_properties(self) -> str:
            return super().server_properties() + "num.partitions=-1\n"

    with pytest.raises(ServiceStartError) as error:
        start(Misconfigured(layout, SECRETS))
    message = one_line(error, r"kafka: formatting .*/data/kafka/logs failed \(log: .*/kafka\.log\)")
    assert "num.partitions" in log_of(message)
    formatted = KafkaService(layout, SECRETS)
    start(formatted)
    formatted.stop()
    with pytest.raises(ServiceStartError) as error:
        start(Misconfigured(layout, SECRETS))
    message = one_line(error, r"kafka: the server exited during start-up \(log: .*/kafka\.log\)")
    assert "num.partitions" in log_of(message).rsplit("Kafka version", 1)[-1]  # in the second start's lines


def test_kafka_formatted_with_other_credentials(layout: StackLayout) -> None:
    """The SCRAM users live in the metadata log: a stack.env lost and generated again must not end in a broker
    that refuses everyone."""
    first = KafkaService(layout, SECRETS)
    start(first)
    first.stop()
    again = KafkaService(layout, {**SECRETS, "KAFKA_ADMIN_PASSWORD": "Another0Password"})
    with pytest.raises(ServiceStartError) as error:
        start(again)
    one_line(error, rf"kafka: {re.escape(str(again.log_dirs))} was formatted with other credentials than the "
                    rf"current secrets; restore them or delete {re.escape(str(again.data_dir))} \(log: .*\)")
    assert not again.is_running()


def test_neo4j_refusing_an_unknown_setting(layout: StackLayout) -> None:
    class Misconfigured(Neo4jService):
        def neo4j_conf(self) -> str:
            return super().neo4j_conf() + "server.no_such_setting=1\n"

    with pytest.raises(ServiceStartError) as error:
        start(Misconfigured(layout, SECRETS))
    message = one_line(error, r"neo4j: .* \(log: .*\)")
    assert "server.no_such_setting" in log_of(message)


def test_postgres_refusing_an_unknown_parameter(layout: StackLayout) -> None:
    class Misconfigured(PostgresService):
        def command(self) -> list[str]:
            return [*super().command(), "-c", "no_such_parameter=1"]

    with pytest.raises(ServiceStartError) as error:
        start(Misconfigured(layout, SECRETS))
    message = one_line(error, r"postgres: the server exited during start-up \(log: .*/postgres\.log\)")
    assert 'unrecognized configuration parameter "no_such_parameter"' in log_of(message)


def test_postgres_data_folder_that_initdb_refuses(layout: StackLayout) -> None:
    """A first start interrupted before initdb finished leaves a data folder without PG_VERSION."""
    service = PostgresService(layout, SECRETS)
    service.pgdata.mkdir(parents=True)
    (service.pgdata / "left-over").write_text("x")
    with pytest.raises(ServiceStartError) as error:
        start(service)
    message = one_line(error, r"postgres: initdb .* failed \(log: .*/postgres\.log\)")
    assert "is not empty" in log_of(message)
    assert not service.is_running()


@pytest.mark.parametrize(("setting", "value", "log", "says"), [
    # start-cluster.sh computes the TaskManager's JVM options first and refuses to start it
    ("taskmanager.memory.process.size", "300m", r".*/logs/flink\.log", "TaskManager memory configuration failed"),
    # the JVM starts and exits: its own log says why
    ("taskmanager.bind-host", "203.0.113.1", r".*/logs/flink/flink-argus-taskexecutor-.*\.log",
     "failed to bind to host:203.0.113.1"),
], ids=["refused-by-the-scripts", "exits-in-the-jvm"])
def test_flink_taskmanager_that_cannot_start_names_the_log_that_says_why(
    layout: StackLayout, setting: str, value: object, log: str, says: str,
) -> None:
    class Misconfigured(FlinkService):
        def prepare(self) -> None:
            super().prepare()
            config = self.conf_dir / "config.yaml"
            config.write_text(render_config(config.read_text(), {setting: value}))

    service = Misconfigured(layout, SECRETS)
    with pytest.raises(ServiceStartError) as error:
        start(service)
    message = one_line(error, rf"flink: (the TaskManager did not start|the server exited during start-up) "
                              rf"\(log: {log}\)")
    assert says.lower() in log_of(message).lower()
    assert not service.is_running()
