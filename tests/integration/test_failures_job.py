"""The failure job on the real stack: Kafka in, exact graph in FalkorDB and Neo4j, exact DLQ records out."""

from __future__ import annotations

import json
import random
import time
from collections import Counter
from datetime import UTC
from typing import Any

import pytest
from argus_dev import flink_metrics
from argus_dev.samples import executed_event, failed_event
from kafka import KafkaProducer

from argus_streams.bus.gateway import EventGateway
from argus_streams.bus.io import consumer
from argus_streams.contract.events import ArgusEvent
from argus_streams.failures.queries import failure_graph
from argus_streams.flink import cluster

GRAPH_TIMEOUT_S = 180


def valid_stream(tenants: list[str], per_tenant: int, seed: int = 5, start_run: int = 0) -> list[ArgusEvent]:
    """Failures of 3 root causes over 4 tests in 2 suites, plus passes that make t0 flaky on its builds."""
    rng = random.Random(seed)
    events: list[ArgusEvent] = []
    for tenant in tenants:
        for i in range(start_run, start_run + per_tenant):
            suite = f"suite-{i % 2}"
            cause = (i % 3) * 1000  # 3 root causes of 3 different exception types
            events.append(failed_event(rng, tenant=tenant, suite=suite, test=f"t{i % 4}", signature_id=cause, run=i))
            if i % 4 == 0:
                events.append(executed_event(rng, tenant=tenant, suite=suite, test="t0", run=i, status="passed"))
    return events


def expected_failures(events: list[ArgusEvent]) -> dict[str, Counter]:
    """Per tenant: how many failures each (test, root cause) had, counted from what we published."""
    per_tenant: dict[str, Counter] = {}
    for event in events:
        if event.event_type.value == "test.failed":
            details = event.payload["failure_details"]
            cause = (details["error_type"], event.payload["test_id"])
            per_tenant.setdefault(event.tenant_id, Counter())[cause] += 1
    return per_tenant


def raw_producer(settings) -> KafkaProducer:  # noqa: ANN001
    return KafkaProducer(**settings.kafka_client_config(), max_request_size=8 * 1024 * 1024,
                         compression_type="gzip")


def graph_totals(settings, tenant: str, store: str = "falkordb") -> int:  # noqa: ANN001
    return sum(row["count"] for row in failure_graph(settings, tenant, store)["failures"])


def wait_for(condition, timeout_s: float = GRAPH_TIMEOUT_S, what: str = "condition") -> None:  # noqa: ANN001
    deadline = time.monotonic() + timeout_s
    last: Any = None
    while time.monotonic() < deadline:
        ok, last = condition()
        if ok:
            return
        time.sleep(1)
    raise AssertionError(f"timed out waiting for {what}; last seen: {last}")


def read_dlq(settings, expected: int, job_id: str, timeout_s: float = 90) -> list[Any]:  # noqa: ANN001
    """The DLQ records once `expected` arrived, and any more that the job's next two checkpoints commit: the
    sink is transactional, so a duplicate (a replay after a restart) becomes visible only at a checkpoint,
    and a fixed sleep could end before it."""
    reader = consumer(settings, [f"{settings.topic_prefix}.dlq"], isolation_level="read_committed")
    records: list[Any] = []
    deadline = time.monotonic() + timeout_s
    try:
        while time.monotonic() < deadline and len(records) < expected:
            for batch in reader.poll(timeout_ms=500).values():
                records.extend(batch)
        cluster.wait_checkpoints(settings, job_id, count=2)  # anything beyond `expected` is a duplicate
        for batch in reader.poll(timeout_ms=1000).values():
            records.extend(batch)
    finally:
        reader.close()
    return records


def submit(stack, settings, from_path: str | None = None, *extra: str) -> str:  # noqa: ANN001
    job_id = cluster.submit(
        settings, "failures", from_path=from_path, stack_env=stack.layout.secrets_file,
        job_args=("--topic-prefix", settings.topic_prefix, "--graph", settings.falkordb_graph,
                  "--group-id", f"{settings.topic_prefix}-failures", *extra),
    )
    cluster.wait_running(settings, job_id)
    return job_id


def expected_nodes(events: list[ArgusEvent], tenant: str) -> tuple[dict[str, tuple], dict[tuple[str, str], float]]:
    """Derived from the published events by the spec, not by the job's code: per error type (one root cause
    each here) the count, first and last seen and the earliest failure's message; per (suite, test) the
    share of its builds that both failed and passed, for tests with at most 20 builds (the window; see below)."""
    def at(event: ArgusEvent) -> str:
        return event.timestamp.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")

    failures: dict[str, list] = {}
    builds: dict[tuple[str, str], dict[str, set[str]]] = {}
    seen: set[str] = set()
    for event in events:
        if event.tenant_id != tenant or event.event_id in seen:
            continue
        seen.add(event.event_id)
        payload = event.payload
        test = builds.setdefault((payload["test_suite_id"], payload["test_id"]), {})
        failed = event.event_type.value == "test.failed"
        test.setdefault(payload["build_id"], set()).add("failed" if failed else payload["status"])
        if failed:
            details = payload["failure_details"]
            row = failures.setdefault(details["error_type"], [0, at(event), at(event), (at(event), event.event_id),
                                                              details["message"]])
            row[0] += 1
            row[1], row[2] = min(row[1], at(event)), max(row[2], at(event))
            if (at(event), event.event_id) < row[3]:
                row[3], row[4] = (at(event), event.event_id), details["message"]
    # Past 20 builds the job's window holds the last 20 in arrival order, and test.failed and test.executed
    # are read as two topics whose interleaving is not the publish order (after a restart the smaller topic
    # runs ahead): the value is then not derivable from the events, so only tests within the window get one.
    flakiness = {key: round(sum(1 for runs in by_build.values() if {"failed", "passed"} <= runs) / len(by_build), 4)
                 if len(by_build) <= 20 else None for key, by_build in builds.items()}
    return {error_type: (r[0], r[1], r[2], r[4]) for error_type, r in failures.items()}, flakiness


def assert_exact_graph(settings, events: list[ArgusEvent], tenants: list[str]) -> None:  # noqa: ANN001
    expected = expected_failures(events)
    for store in ("falkordb", "neo4j"):
        for tenant in tenants:
            graph = failure_graph(settings, tenant, store)
            assert sum(row["count"] for row in graph["failures"]) == sum(expected[tenant].values()), store
            assert len(graph["failures"]) == 3, (store, graph["failures"])  # 3 root causes
            by_type = Counter()
            for edge in graph["edges"]:
                error_type = next(f["error_type"] for f in graph["failures"] if f["signature"] == edge["signature"])
                by_type[(error_type, edge["test"])] += edge["count"]
            assert by_type == expected[tenant], store
            failures, flakiness = expected_nodes(events, tenant)
            assert {f["error_type"]: (f["count"], f["first_seen"], f["last_seen"], f["sample_message"])
                    for f in graph["failures"]} == failures, store
            assert {(t["suite"], t["test"]): t["flakiness"] if flakiness.get((t["suite"], t["test"])) is not None
                    else None for t in graph["tests"]} == flakiness, store


@pytest.mark.parametrize("sink", ["python", "jvm"])  # jvm: the job's Python steps run in thread mode
def test_mixed_stream_gives_the_exact_graph_and_dlq(stack, settings, sink: str) -> None:  # noqa: ANN001
    prefix = settings.topic_prefix
    tenants = [f"{prefix}-acme", prefix + "-o'brien\"}})-[:X]->() DETACH DELETE n //"]  # Cypher metacharacters
    events = valid_stream(tenants, per_tenant=60)
    big = failed_event(random.Random(9), tenant=tenants[0], suite="suite-0", test="t0", signature_id=0,
                       run=999, pad_to=2 * 1024 * 1024)
    events.append(big)
    with EventGateway(settings, max_request_size=8 * 1024 * 1024) as gateway:
        gateway.publish_many(events)

    good = events[0]
    bad_values: list[bytes] = [
        b"{this is not json",
        json.dumps({**good.to_dict(), "event_id": "not-a-uuid"}).encode(),
        json.dumps({**good.to_dict(), "payload": {"test_id": "x"}}).encode(),  # missing payload fields
        json.dumps({**good.to_dict(), "timestamp": 12345}).encode(),  # wrong type
        json.dumps({**good.to_dict(), "event_type": "codebase.ingested"}).encode(),  # not ours
        b"\xff\xfe\x00 invalid utf-8",
    ]
    producer = raw_producer(settings)
    for n, value in enumerate(bad_values):
        producer.send(f"{prefix}.test.failed", key=f"bad-{n}".encode(), value=value,
                      headers=[("tenant_id", tenants[0].encode()), ("correlation_id", f"c-{n}".encode())])
    producer.flush()
    producer.close()

    job_id = submit(stack, settings, None, "--sink", sink)
    try:
        expected_total = sum(sum(c.values()) for c in expected_failures(events).values())
        wait_for(lambda: (sum(graph_totals(settings, t, "neo4j") for t in tenants) == expected_total,
                          [graph_totals(settings, t, "neo4j") for t in tenants]), what="graph totals")
        assert_exact_graph(settings, events, tenants)

        letters = read_dlq(settings, expected=len(bad_values), job_id=job_id)
        assert len(letters) == len(bad_values)
        by_key = {r.key.decode(): (r, json.loads(r.value)) for r in letters}
        assert set(by_key) == {f"bad-{n}" for n in range(len(bad_values))}
        for n, value in enumerate(bad_values):
            record, letter = by_key[f"bad-{n}"]
            assert letter["event_type"] == "dlq" and letter["tenant_id"] == tenants[0]
            assert letter["correlation_id"] == f"c-{n}"
            assert letter["payload"]["original_topic"] == f"{prefix}.test.failed"
            assert letter["payload"]["original_key"] == f"bad-{n}"
            assert letter["payload"]["original_value"] == value.decode("utf-8", errors="backslashreplace")
            assert letter["payload"]["error_type"] in {"EventValidationError", "UnexpectedEventType"}
            assert letter["metadata"]["retry_count"] == 1 and letter["metadata"]["max_retries"] == 3
            assert dict(record.headers)["tenant_id"] == tenants[0].encode()

        # The job's own metrics, scraped from the TaskManager's Prometheus endpoint.
        failed = sum(1 for e in events if e.event_type.value == "test.failed")
        expected_metrics = {("events", "event_type", "test_failed"): failed,
                            ("events", "event_type", "test_executed"): len(events) - failed,
                            ("dlq_records", "error_type", "UnexpectedEventType"): 1,
                            ("dlq_records", None, None): len(bad_values)}

        def scraped() -> dict:
            metrics = flink_metrics.job_metrics(stack.layout, job_id=job_id)
            return {key: flink_metrics.total(metrics, key[0], **({key[1]: key[2]} if key[1] else {}))
                    for key in expected_metrics}
        wait_for(lambda: (scraped() == expected_metrics, scraped()), timeout_s=60, what="the job's metrics")
        # Rows are coalesced per tenant before the write: each store wrote every graph key at least once
        # (failure nodes, edges, tests) and never more rows than the per-event upserts they replace.
        failures = {(e.tenant_id, e.payload["failure_details"]["error_type"]) for e in events
                    if e.event_type.value == "test.failed"}
        edges = {(e.tenant_id, e.payload["failure_details"]["error_type"], e.payload["test_id"]) for e in events
                 if e.event_type.value == "test.failed"}
        tests = {(e.tenant_id, e.payload["test_id"]) for e in events}
        def written() -> dict[str, float]:
            metrics = flink_metrics.job_metrics(stack.layout, job_id=job_id)
            return {store: flink_metrics.total(metrics, "graph_write_rows", store=store)
                    for store in ("FalkorGraphWriter", "Neo4jGraphWriter")}
        keys = len(failures) + len(edges) + len(tests)
        wait_for(lambda: (min(written().values()) >= keys, written()), timeout_s=60, what="rows written per store")
        assert max(written().values()) <= len(events) + 2 * failed, written()
        metrics = flink_metrics.job_metrics(stack.layout, job_id=job_id)
        assert flink_metrics.total(metrics, "graph_write_batches") >= 1
        assert flink_metrics.total(metrics, "graph_write_ms") > 0
    finally:
        cluster.cancel(settings, job_id)


@pytest.mark.parametrize("sink", ["python", "jvm"])  # jvm: a second thread-mode job on the TaskManager, too
def test_restart_from_checkpoint_keeps_counts_exact(stack, settings, sink: str) -> None:  # noqa: ANN001
    tenant = f"{settings.topic_prefix}-restart"
    first = valid_stream([tenant], per_tenant=300, seed=1)
    second = valid_stream([tenant], per_tenant=12_000, seed=2, start_run=300)  # seconds of work: mid-stream
    with EventGateway(settings) as gateway:
        gateway.publish_many(first)
        job_id = submit(stack, settings, None, "--sink", sink)
        wait_for(lambda: (graph_totals(settings, tenant) == 300, graph_totals(settings, tenant)), what="first half")
        cluster.wait_checkpoints(settings, job_id, count=1)
        gateway.publish_many(second)  # the job is mid-stream on these when it is stopped
    wait_for(lambda: (graph_totals(settings, tenant) > 300, graph_totals(settings, tenant)), what="progress")
    cluster.cancel(settings, job_id)
    checkpoint = cluster.latest_checkpoint(settings, job_id)
    assert checkpoint, "the job retained no checkpoint"

    job_id = submit(stack, settings, checkpoint, "--sink", sink)
    try:
        total = 300 + 12_000
        wait_for(lambda: (graph_totals(settings, tenant, "neo4j") == total,
                          graph_totals(settings, tenant, "neo4j")), what="all events after restart")
        # Every record the restored source read before the first of these barriers went through the
        # aggregation before it, and its rows (flushed 200 ms later) were written long before the second
        # completes: a replay that double counts is in the graph by then.
        cluster.wait_checkpoints(settings, job_id, count=2)
        assert_exact_graph(settings, first + second, [tenant])
        # Nothing was published after the cancel: whatever the restored source read is a replay.
        wait_for(lambda: (cluster.vertex_metrics(settings, job_id)[0]["write-records"] > 0,
                          cluster.vertex_metrics(settings, job_id)[0]), timeout_s=30,
                 what="the restored job to have replayed records (else this test proves nothing)")
    finally:
        cluster.cancel(settings, job_id)
