"""Consumer-group lag against the real broker: exact offsets per partition, the CLI, and the exporter."""

from __future__ import annotations

import json
import socket
import threading
import time
import urllib.request

import pytest
from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from prometheus_client.parser import text_string_to_metric_families

from argus_streams import cli
from argus_streams.bus.lag import LagRow, describe_groups, format_table, serve_lag_metrics, to_json
from argus_streams.settings import STACK_ENV_VAR

PRODUCED = [5, 3, 0, 7, 2, 4]  # records per partition of {prefix}.test.failed (6 partitions)


def _produce(settings, topic: str, per_partition: dict[int, int]) -> None:  # noqa: ANN001
    producer = KafkaProducer(**settings.kafka_client_config(), acks="all")
    try:
        for partition, count in per_partition.items():
            for i in range(count):
                producer.send(topic, value=f"record {i}".encode(), partition=partition)
        producer.flush(timeout=30)
    finally:
        producer.close()


def _consume(consumer: KafkaConsumer, count: int, max_records: int | None = None) -> None:
    got = 0
    deadline = time.monotonic() + 30
    while got < count:
        assert time.monotonic() < deadline, f"consumed {got} of {count} records"
        got += sum(len(batch) for batch in consumer.poll(timeout_ms=500, max_records=max_records).values())
    assert got == count


@pytest.fixture
def committed(settings, prefix: str) -> tuple[str, list[LagRow]]:  # noqa: ANN001
    """A group that committed partitions 0 and 3 in full and 2 records of partition 1 (like a Flink source
    it never joins: it assigns partitions itself); 3 more records land on partition 0 after the commit."""
    topic, group = f"{prefix}.test.failed", f"{prefix}-g"
    _produce(settings, topic, dict(enumerate(PRODUCED)))
    consumer = KafkaConsumer(**settings.kafka_client_config(), group_id=group, enable_auto_commit=False,
                             auto_offset_reset="earliest")
    try:
        consumer.assign([TopicPartition(topic, 0), TopicPartition(topic, 3)])
        _consume(consumer, PRODUCED[0] + PRODUCED[3])
        consumer.commit()
        consumer.assign([TopicPartition(topic, 1)])
        _consume(consumer, 2, max_records=1)
        consumer.commit()
    finally:
        consumer.close()
    _produce(settings, topic, {0: 3})
    expected = [
        LagRow(group, topic, 0, 5, 8, 3),
        LagRow(group, topic, 1, 2, 3, 1),
        LagRow(group, topic, 2, None, 0, None),
        LagRow(group, topic, 3, 7, 7, 0),
        LagRow(group, topic, 4, None, 2, None),
        LagRow(group, topic, 5, None, 4, None),
    ]
    return group, expected


def test_describe_groups_gives_exact_offsets_per_partition(settings, committed) -> None:  # noqa: ANN001
    group, expected = committed
    assert describe_groups(settings, [group]) == expected
    # Without names every group is listed, commit-only groups (no members, like Flink's) included.
    everything = describe_groups(settings, None)
    assert [row for row in everything if row.group == group] == expected
    assert describe_groups(settings, [f"{group}-never-committed"]) == []


def test_cli_prints_the_table_and_json(stack, settings, committed, monkeypatch, capsys) -> None:  # noqa: ANN001
    group, expected = committed
    monkeypatch.setenv(STACK_ENV_VAR, str(stack.layout.secrets_file))
    assert cli.main(["lag", group, "--json"]) == 0
    out = capsys.readouterr().out
    assert json.loads(out) == json.loads(to_json(expected))
    assert json.loads(out)[2] == {"group": group, "topic": f"{settings.topic_prefix}.test.failed", "partition": 2,
                                  "current_offset": None, "log_end_offset": 0, "lag": None}

    assert cli.main(["lag", group, f"{group}-unknown"]) == 0
    captured = capsys.readouterr()
    assert captured.out == format_table(expected) + "\n"
    assert captured.out.splitlines()[3].split() == [group, f"{settings.topic_prefix}.test.failed", "2", "-", "0", "-"]
    assert f"group '{group}-unknown' has no committed offsets" in captured.err


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _scrape(url: str) -> dict[str, list]:
    deadline = time.monotonic() + 15
    while True:
        try:
            with urllib.request.urlopen(url, timeout=10) as response:
                text = response.read().decode()
            break
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)
    return {family.name: family.samples for family in text_string_to_metric_families(text)}


def _group_lag(metrics: dict[str, list], group: str) -> dict[tuple[str, str], float]:
    return {(s.labels["topic"], s.labels["partition"]): s.value
            for s in metrics["kafka_consumer_group_lag"] if s.labels["group"] == group}


def test_exporter_serves_lag_and_log_end_offsets(settings, committed) -> None:  # noqa: ANN001
    group, _ = committed
    topic = f"{settings.topic_prefix}.test.failed"
    port, stop, lines = _free_port(), threading.Event(), []
    server = threading.Thread(target=serve_lag_metrics, args=(settings, port, None, 0.0),
                              kwargs={"stop": stop, "report": lines.append}, daemon=True)
    server.start()
    try:
        url = f"http://127.0.0.1:{port}/metrics"
        metrics = _scrape(url)
        assert [s.value for s in metrics["argus_lag_exporter_up"]] == [1]
        # Partitions without a commit have no lag sample.
        assert _group_lag(metrics, group) == {(topic, "0"): 3, (topic, "1"): 1, (topic, "3"): 0}
        current = {(s.labels["topic"], s.labels["partition"]): s.value
                   for s in metrics["kafka_topic_partition_current_offset"]}
        assert {p: current[(topic, str(p))] for p in range(6)} == {0: 8, 1: 3, 2: 0, 3: 7, 4: 2, 5: 4}
        assert {current[(f"{settings.topic_prefix}.dlq", str(p))] for p in range(3)} == {0}  # the catalog's DLQ

        _produce(settings, topic, {1: 4})  # computed on scrape: the next scrape sees the new records
        metrics = _scrape(url)
        assert _group_lag(metrics, group) == {(topic, "0"): 3, (topic, "1"): 5, (topic, "3"): 0}
    finally:
        stop.set()
        server.join(timeout=10)
    assert not server.is_alive()
    assert lines == [f"consumer lag metrics on http://127.0.0.1:{port}/metrics "
                     "(all groups; refreshed at most every 0s)"]
