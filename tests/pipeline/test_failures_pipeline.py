"""The failure job's operators on a bounded input at parallelism 2 (local Flink mini-cluster, no stack)."""

from __future__ import annotations

import json
import random
from collections import Counter

import pytest
from argus_dev.samples import executed_event, failed_event
from pyflink.common import Row, Types
from pyflink.datastream import RuntimeExecutionMode

from argus_streams.contract.events import ArgusEvent
from argus_streams.failures.job import AGGREGATIONS, aggregate
from argus_streams.flink.kit import (
    TENANT_KEYED_DESERIALIZER_CLASS,
    TENANT_KEYED_RECORD_TYPE,
    create_env,
    java_instance,
)


def record(topic: str, offset: int, value: bytes, key: str | None = "suite") -> Row:
    """(tenant key, record), the key read by the job's own Java deserializer."""
    tenant = java_instance(TENANT_KEYED_DESERIALIZER_CLASS).tenantOf(value)
    return Row(tenant, Row(topic, offset % 6, offset, 0, key, bytearray(value), {"tenant_id": "acme"}))


@pytest.mark.parametrize("aggregation", AGGREGATIONS)
def test_operators_aggregate_dedupe_and_route_bad_input(aggregation: str) -> None:
    rng = random.Random(11)
    events: list[ArgusEvent] = []
    for i in range(40):  # 2 tenants x 2 signatures x 2 tests, plus passes
        tenant = ("acme", "globex")[i % 2]
        events.append(failed_event(rng, tenant=tenant, suite="s1", test=f"t{i % 4 // 2}", signature_id=(i % 8) // 4,
                                   run=i))
    events += [executed_event(rng, tenant="acme", suite="s1", test="t0", run=i, status="passed") for i in range(3)]
    env = create_env(parallelism=2)  # loads the job's jars, whose deserializer computes the keys
    rows = [record("argus.test.failed", n, e.to_bytes()) for n, e in enumerate(events)]
    rows.append(record("argus.test.failed", 900, events[0].to_bytes()))  # a duplicate delivery
    rows.append(record("argus.test.failed", 901, b"{truncated"))
    rows.append(record("argus.test.executed", 902, b'{"event_type": "test.executed"}'))
    forged = record("argus.test.failed", 903, events[1].to_bytes())
    rows.append(Row("acme", forged[1]))  # keyed as another tenant than the event says: never aggregated there
    # a lone surrogate (a JSON escape) in an id: no UTF-8 coder could carry it to the JVM
    surrogate = events[2].to_bytes().replace(b'"test_id": "t', b'"test_id": "\\ud800t', 1)
    assert json.loads(surrogate)["payload"]["test_id"].startswith("\ud800")
    rows.append(record("argus.test.failed", 904, surrogate))

    # A bounded input ends before any processing-time timer is due; in BATCH mode Flink fires a key's
    # timers when its input is done, so every tenant's pending rows are flushed (on Kafka, the timer does).
    env.set_runtime_mode(RuntimeExecutionMode.BATCH)
    source = env.from_collection(rows, type_info=TENANT_KEYED_RECORD_TYPE)
    graph_rows, dead_letters = aggregate(source, "argus", aggregation)
    # an element is one tenant's coalesced rows: a JSON array from the JVM, a list from Python
    flat = graph_rows.flat_map(lambda rows: [json.dumps(r) for r in (json.loads(rows) if isinstance(rows, str)
                                                                     else rows)], output_type=Types.STRING()) \
        .disable_chaining()
    tagged = flat.union(
        dead_letters.map(lambda r: json.dumps({"kind": "dlq", "topic": r[0], "key": r[1], "value": r[2]}),
                         output_type=Types.STRING()))
    with tagged.execute_and_collect() as results:
        out = [json.loads(item) for item in results]

    def newest(kind: str, key: tuple[str, ...], version: str) -> dict[tuple, dict]:
        final: dict[tuple, dict] = {}
        for row in (r for r in out if r["kind"] == kind):  # rows are coalesced: the newest per key wins
            k = tuple(row[name] for name in key)
            if k not in final or final[k][version] <= row[version]:
                final[k] = row
        return final

    failures = newest("failure", ("tenant_id", "signature"), "count")
    assert sorted(row["count"] for row in failures.values()) == [10, 10, 10, 10]  # the duplicate was dropped
    assert len({sig for _, sig in failures}) == 2  # the same two signatures in both tenants
    edges = newest("edge", ("tenant_id", "signature", "test_id"), "edge_count")
    assert {k: row["edge_count"] for k, row in edges.items()} == {
        (tenant, sig, test): 5 for tenant, sig in failures for test in ("t0", "t1")}
    tests = newest("test", ("tenant_id", "test_id"), "seq")
    assert {k: row["seq"] for k, row in tests.items()} == {
        ("acme", "t0"): 13, ("acme", "t1"): 10, ("globex", "t0"): 10, ("globex", "t1"): 10}
    assert tests[("acme", "t0")]["flakiness"] > 0 and tests[("globex", "t0")]["flakiness"] == 0

    dead = [r for r in out if r["kind"] == "dlq"]
    assert Counter(r["topic"] for r in dead) == {"argus.dlq": 4}
    letters = {json.loads(r["value"])["payload"]["original_offset"]: json.loads(r["value"]) for r in dead}
    assert letters[901]["payload"]["error_type"] == "EventValidationError"
    assert letters[902]["payload"]["original_topic"] == "argus.test.executed"
    assert letters[901]["tenant_id"] == "acme"  # from the original record's headers
    assert letters[903]["payload"]["error_type"] == "TenantKeyMismatch"
    assert letters[904]["payload"]["error_type"] == "EventValidationError"  # not a valid string (pydantic)


def test_the_tenant_key_is_the_events_own_top_level_tenant_id() -> None:
    create_env(parallelism=1)
    keys = java_instance(TENANT_KEYED_DESERIALIZER_CLASS)
    assert keys.tenantOf(b'{"tenant_id": "acme", "payload": {"tenant_id": "other"}}') == "acme"
    assert keys.tenantOf(b'{"payload": {"tenant_id": "other"}, "tenant_id": "t\\u00e9"}') == "t\u00e9"
    assert keys.tenantOf(b'{"tenant_id": "a", "tenant_id": "b"}') == "b"  # the last wins, as in Python's json
    assert json.loads(b'{"tenant_id": "a", "tenant_id": "b"}')["tenant_id"] == "b"
    for value in (b'{"tenant_id": 7}', b'["tenant_id"]', b'{"tenant_id": "a"', b"\xff\xfe", b"",
                  b'{"x": ' + b"[" * 100_000 + b"]" * 100_000 + b', "tenant_id": "a"}'):
        assert keys.tenantOf(value) == "", value[:40]
