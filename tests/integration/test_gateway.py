"""The producer gateway against the real broker with real SCRAM auth."""

from __future__ import annotations

import socket
import time
from collections import defaultdict

import pytest
from argus_dev.samples import demo_stream

from argus_streams.bus.breaker import BreakerState, CircuitBreaker
from argus_streams.bus.gateway import EventGateway, GatewayTimeouts
from argus_streams.bus.io import read_records
from argus_streams.contract.events import PRODUCED, ArgusEvent, EventType
from argus_streams.contract.topics import catalog
from argus_streams.errors import BrokerAuthError, CircuitOpenError, PublishError


def test_publish_and_read_back_with_key_and_headers(settings) -> None:  # noqa: ANN001
    events = demo_stream()
    with EventGateway(settings) as gateway:
        acks = gateway.publish_many(events)
    assert [ack.topic for ack in acks] == [e.topic(settings.topic_prefix) for e in events]

    records = read_records(settings, [spec.name for spec in catalog(settings.topic_prefix)], len(events))
    assert len(records) == len(events)
    by_id = {ArgusEvent.from_json(r.value).event_id: r for r in records}
    for event, ack in zip(events, acks, strict=True):
        record = by_id[event.event_id]
        assert record.value == event.to_bytes()
        assert record.key == event.partition_key()
        assert dict(record.headers) == {
            "correlation_id": event.correlation_id.encode(),
            "tenant_id": event.tenant_id.encode(),
            "source": event.source.encode(),
        }
        assert (record.partition, record.offset) == (ack.partition, ack.offset)


def test_same_key_always_lands_on_one_partition(settings) -> None:  # noqa: ANN001
    events = [
        ArgusEvent.new(EventType.CODEBASE_INGESTED, source="t", tenant_id=f"tenant-{i % 3}",
                       payload={"project_id": f"project-{i % 5}", "codebase_path": "/srv"})
        for i in range(100)
    ]
    with EventGateway(settings) as gateway:
        acks = gateway.publish_many(events)
    partitions: dict[str, set[int]] = defaultdict(set)
    for event, ack in zip(events, acks, strict=True):
        partitions[event.payload["project_id"]].add(ack.partition)
    assert all(len(found) == 1 for found in partitions.values()), partitions
    assert len({p for found in partitions.values() for p in found}) > 1  # keys do spread over partitions


def test_wrong_scram_password_is_refused_clearly(settings) -> None:  # noqa: ANN001
    wrong = settings.model_copy(update={"sasl_password": type(settings.sasl_password)("not-the-password")})
    started = time.monotonic()
    with pytest.raises(BrokerAuthError, match=f"refused SASL SCRAM-SHA-512 login for user '{settings.sasl_username}'"):
        EventGateway(wrong).start()
    assert time.monotonic() - started < 30


def test_a_broker_never_reached_is_counted_so_the_breaker_opens_and_probes_again(settings) -> None:  # noqa: ANN001
    """Connecting is part of publishing: a failed connect is a failure the breaker hears of. Were it not, a probe
    that failed to connect would leave the breaker waiting on it and every later call would fail fast."""
    with socket.socket() as closed:  # a port nothing listens on
        closed.bind(("127.0.0.1", 0))
        nowhere = settings.model_copy(update={"brokers": f"127.0.0.1:{closed.getsockname()[1]}"})
        breaker = CircuitBreaker("unreachable", failure_threshold=2, reset_timeout_s=0.5)
        gateway = EventGateway(nowhere, timeouts=GatewayTimeouts(bootstrap_ms=1_000), breaker=breaker)
        event = demo_stream()[0]
        for _ in range(2):
            with pytest.raises(PublishError, match="cannot reach broker"):
                gateway.publish(event)
        assert breaker.state is BreakerState.OPEN
        with pytest.raises(CircuitOpenError):
            gateway.publish(event)
        time.sleep(0.5)
        with pytest.raises(PublishError, match="cannot reach broker"):  # the probe: tried, failed, counted
            gateway.publish(event)
        assert breaker.state is BreakerState.OPEN
        time.sleep(0.5)
        with pytest.raises(PublishError, match="cannot reach broker"):  # and the next probe is let through
            gateway.publish(event)
    failures = sum(sample.value for metric in gateway.metrics.failed.collect() for sample in metric.samples
                   if sample.name.endswith("_total"))
    assert failures == 4


@pytest.mark.faults
def test_broker_stopped_mid_run_opens_the_breaker(stack, settings) -> None:  # noqa: ANN001
    kafka = stack.service("kafka")
    gateway = EventGateway(settings).start()
    event = demo_stream()[0]
    gateway.publish(event)
    kafka.stop()
    try:
        errors = []
        started = time.monotonic()
        for _ in range(gateway.breaker.failure_threshold):
            with pytest.raises(PublishError) as info:
                gateway.publish(event)
            errors.append(info.value)
        assert gateway.breaker.state is BreakerState.OPEN
        assert time.monotonic() - started < 5 * (gateway.timeouts.delivery_ms / 1000 + 2)
        sends = []
        producer_send = gateway._producer.send
        gateway._producer.send = lambda *args, **kwargs: sends.append(args) or producer_send(*args, **kwargs)
        with pytest.raises(CircuitOpenError):
            gateway.publish(event)
        assert sends == []  # fails fast: the producer (and so the broker) is never asked
        gateway._producer.send = producer_send
    finally:
        kafka.start()
        kafka.wait_healthy()
    # After the reset timeout the breaker lets a probe through and closes again. A restarted broker may
    # refuse the first probes (each is a real failure, counted, and reopens the breaker); fast-failed
    # calls while it is open are not publish attempts and are not counted.
    time.sleep(gateway.breaker.reset_timeout_s)
    deadline = time.monotonic() + 60
    failed_probes = 0
    while True:
        try:
            gateway.publish(event)
            break
        except CircuitOpenError:
            pass
        except PublishError:
            failed_probes += 1
            assert gateway.breaker.state is BreakerState.OPEN  # a failed probe reopens at once
        if time.monotonic() > deadline:
            raise AssertionError(f"the breaker did not close within 60 s ({failed_probes} failed probes)")
        time.sleep(gateway.breaker.reset_timeout_s)
    assert gateway.breaker.state is BreakerState.CLOSED
    failures = sum(sample.value for metric in gateway.metrics.failed.collect() for sample in metric.samples
                   if sample.name.endswith("_total"))
    assert failures == gateway.breaker.failure_threshold + failed_probes
    assert gateway.metrics.registry.get_sample_value("argus_gateway_circuit_open") == 0
    gateway.close()


def test_publish_command_counts_per_topic_and_reports_bad_lines(stack, settings, tmp_path, monkeypatch,
                                                                 capsys) -> None:  # noqa: ANN001
    from argus_streams.cli import main

    events = [e for e in demo_stream() if e.event_type in PRODUCED]  # what the gateway's principal may write
    lines = [e.to_json() for e in events] + ['{"not": "an event"}']
    path = tmp_path / "events.jsonl"
    path.write_text("\n".join(lines) + "\n")
    monkeypatch.setenv("ARGUS_STACK_ENV", str(stack.layout.secrets_file))
    monkeypatch.setenv("ARGUS_TOPIC_PREFIX", settings.topic_prefix)
    assert main(["publish", str(path)]) == 1  # a rejected line makes the exit code non-zero
    out, err = capsys.readouterr()
    rows = [line.split() for line in out.splitlines() if line.startswith(settings.topic_prefix)]
    counts = {row[0]: int(row[1]) for row in rows}
    assert counts == {f"{settings.topic_prefix}.{t}": 2 for t in
                      ("codebase.ingested", "test.created", "test.executed", "test.failed", "healing.requested")}
    assert f"line {len(lines)}: rejected: event_id" in err
    records = read_records(settings, [spec.name for spec in catalog(settings.topic_prefix)], len(events))
    assert len(records) == len(events)
