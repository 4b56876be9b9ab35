"""The local stack's start-up errors: one line naming the service and its log, nothing left running."""

from __future__ import annotations

import os
import socket
import time
from pathlib import Path

import pytest
from argus_dev.stack.base import Ports, StackLayout
from argus_dev.stack.falkordb import FalkorDBService

from argus_streams.errors import ServiceStartError


def alive(pid: int) -> bool:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            return False
        if state == "Z":
            return False
        time.sleep(0.1)
    return True


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_a_taken_port_is_one_clear_line(tmp_path: Path) -> None:
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        port = squatter.getsockname()[1]
        layout = StackLayout(state_dir=tmp_path, ports=Ports(falkordb=port))
        service = FalkorDBService(layout, {"FALKORDB_PASSWORD": "x"})
        with pytest.raises(ServiceStartError) as info:
            service.start()
    message = str(info.value)
    assert "\n" not in message
    # the holder is named: this test process, its pid and command
    assert message.startswith(f"falkordb: port 127.0.0.1:{port} is already taken by pid {os.getpid()} (")
    assert "pytest" in message
    assert str(layout.logs_dir / "falkordb.log") in message
    assert not service.is_running()


def test_a_server_of_this_stack_whose_pid_file_was_lost_is_adopted_not_a_conflict(tmp_path: Path) -> None:
    layout = StackLayout(state_dir=tmp_path, ports=Ports(falkordb=free_port()))
    first = FalkorDBService(layout, {"FALKORDB_PASSWORD": "x"})
    first.start()
    first.wait_healthy(timeout=20)
    server = first.pid()
    try:
        first.pid_path.unlink()  # lost, as after a crash of the tool or a cleaned run folder
        again = FalkorDBService(layout, {"FALKORDB_PASSWORD": "x"})
        assert not again.is_running()
        again.start()  # neither "port taken" nor a second server
        again.wait_healthy(timeout=20)
        assert again.pid() == server
    finally:
        stopped = FalkorDBService(layout, {"FALKORDB_PASSWORD": "x"}).stop()  # found again by its pid file
        if server is not None and alive(server):
            os.kill(server, 9)
    assert stopped and server is not None and not alive(server)


def test_a_server_that_dies_at_start_names_its_log(tmp_path: Path) -> None:
    layout = StackLayout(state_dir=tmp_path, ports=Ports(falkordb=free_port()))

    class Broken(FalkorDBService):
        def command(self) -> list[str]:
            return [*super().command(), "--no-such-option", "1"]

    service = Broken(layout, {"FALKORDB_PASSWORD": "x"})
    service.start()
    with pytest.raises(ServiceStartError, match=r"falkordb: the server exited during start-up \(log: .*falkordb.log\)"):
        service.wait_healthy(timeout=20)
    service.stop()


def test_the_cli_acts_on_the_stack_the_environment_names(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from argus_dev.stack.base import DEFAULT_STATE_DIR, PORT_OFFSET_VAR, STACK_DIR_VAR

    from argus_streams.errors import ConfigurationError
    from argus_streams.settings import default_stack_env

    monkeypatch.delenv(STACK_DIR_VAR, raising=False)
    monkeypatch.delenv(PORT_OFFSET_VAR, raising=False)
    assert StackLayout.from_env() == StackLayout(state_dir=DEFAULT_STATE_DIR, ports=Ports())
    assert default_stack_env() == DEFAULT_STATE_DIR / "stack.env"
    monkeypatch.setenv(STACK_DIR_VAR, str(tmp_path))
    monkeypatch.setenv(PORT_OFFSET_VAR, "20000")
    layout = StackLayout.from_env()
    assert layout.state_dir == tmp_path and layout.ports.kafka == 29092 and layout.ports.flink_metrics == 29249
    assert default_stack_env() == tmp_path / "stack.env"
    monkeypatch.setenv(PORT_OFFSET_VAR, "10k")
    with pytest.raises(ConfigurationError, match="ARGUS_STACK_PORT_OFFSET='10k' is not a whole number"):
        StackLayout.from_env()


def test_status_names_a_foreign_port_holder(tmp_path: Path) -> None:
    from argus_dev.stack.manager import Stack

    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        port = squatter.getsockname()[1]
        (row,) = Stack(StackLayout(state_dir=tmp_path, ports=Ports(falkordb=port)), only=("falkordb",)).status()
    assert (row.state, row.running, row.healthy) == ("blocked", False, False)
    assert f"port 127.0.0.1:{port} is already taken by pid {os.getpid()} (" in row.detail


def test_kafka_formats_its_storage_with_no_password_on_a_command_line(tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """`--add-scram name=..,password=..` goes to the JVM through a 0600 argument file, deleted afterwards."""
    import subprocess

    from argus_dev.stack import kafka
    seen: list[tuple[list[str], int, str]] = []
    real_run = subprocess.run

    def spy(argv: list[str], **kwargs: object) -> subprocess.CompletedProcess:
        argfile = Path(argv[-1][1:])
        seen.append((list(argv), argfile.stat().st_mode & 0o777, argfile.read_text()))
        return real_run(argv, **kwargs)

    monkeypatch.setattr(kafka.subprocess, "run", spy)
    secrets = {"KAFKA_ADMIN_PASSWORD": "Admin0Secret0Value", "KAFKA_CONTROLLER_PASSWORD": "Controller0Secret0Value",
               "KAFKA_ADMIN_USER": "admin", "ARGUS_KAFKA_PRINCIPALS": "argus-gateway:Gateway0Secret0Value"}
    service = kafka.KafkaService(StackLayout(state_dir=tmp_path, ports=Ports().shifted(41_000)), secrets)
    service.layout.ensure_dirs()
    service.data_dir.mkdir(parents=True)
    service.prepare()
    ((argv, mode, text),) = seen
    assert not any("Secret0Value" in arg for arg in argv) and len(argv) == 2 and argv[1].startswith("@")
    # Only the admin is made at format time (the principals' users once the broker runs: after_healthy).
    assert mode == 0o600 and "password=Admin0Secret0Value" in text and "Gateway0Secret0Value" not in text
    properties = service.properties_path.read_text()  # the controller's password: only in the 0600 config
    assert "Controller0Secret0Value" in properties and service.properties_path.stat().st_mode & 0o777 == 0o600
    assert not Path(argv[1][1:]).exists()
    assert (service.log_dirs / "meta.properties").is_file()  # the format itself worked
