"""Aggregation logic without a JVM: parsing, dedupe-free counting, flakiness, order independence."""

from __future__ import annotations

import itertools
import json
import random
from collections import Counter

import pytest
from argus_dev.samples import demo_stream, executed_event, failed_event

from argus_streams.contract import dead_letters
from argus_streams.errors import EventValidationError
from argus_streams.failures.logic import (
    SignatureStats,
    TenantFailures,
    TestHistory,
    UnexpectedEventType,
    iso_utc,
    parse_run,
)


def runs_for(events):  # noqa: ANN001, ANN201
    return [parse_run(e.to_bytes()) for e in events]


def test_parse_failed_and_executed() -> None:
    rng = random.Random(1)
    failed = parse_run(failed_event(rng, tenant="t", suite="s", test="x", signature_id=3, run=5).to_bytes())
    assert failed.failed and failed.signature and failed.signature.startswith("v1:")
    assert (failed.tenant_id, failed.suite_id, failed.test_id, failed.build) == ("t", "s", "x", "build-0")
    passed = parse_run(executed_event(rng, tenant="t", suite="s", test="x", run=5, status="passed").to_bytes())
    assert not passed.failed and passed.signature is None


def test_same_cause_same_signature_across_runs() -> None:
    rng = random.Random(2)
    sigs = {parse_run(failed_event(rng, tenant="t", suite="s", test=f"x{i}", signature_id=1007, run=i).to_bytes())
            .signature for i in range(20)}
    assert len(sigs) == 1


@pytest.mark.parametrize(
    ("raw", "error"),
    [
        (b"{not json", EventValidationError),
        (json.dumps({"event_id": 1}).encode(), EventValidationError),
        (demo_stream()[0].to_bytes(), UnexpectedEventType),  # a codebase event on our topic
    ],
)
def test_bad_input_raises_typed_errors(raw: bytes, error: type[Exception]) -> None:
    with pytest.raises(error):
        parse_run(raw)


def test_an_event_of_another_type_says_which() -> None:
    """The message is the dead letter's error_message."""
    with pytest.raises(UnexpectedEventType) as info:
        parse_run(demo_stream()[0].to_bytes())
    assert str(info.value) == "event_type 'codebase.ingested' is not read by the failure job"


def test_missing_payload_field_is_rejected() -> None:
    event = failed_event(random.Random(3), tenant="t", suite="s", test="x", signature_id=1, run=1)
    payload = {k: v for k, v in event.payload.items() if k != "run_id"}
    with pytest.raises(EventValidationError, match="payload.run_id"):
        parse_run(event.model_copy(update={"payload": payload}).to_bytes())


def test_flakiness_counts_builds_with_both_outcomes() -> None:
    rng = random.Random(4)
    history = TestHistory()
    # build-0 (runs 0-9): pass then fail -> flaky; build-1 (runs 10-19): only passes -> stable
    for run, status in [(1, "passed"), (2, "failed"), (11, "passed"), (12, "passed")]:
        history.record(parse_run(executed_event(rng, tenant="t", suite="s", test="x", run=run,
                                                status=status).to_bytes()))
    assert history.flakiness == 0.5
    assert history.seq == 4


def test_history_counts_an_event_once() -> None:
    rng = random.Random(6)
    run = parse_run(failed_event(rng, tenant="t", suite="s", test="x", signature_id=1, run=3).to_bytes())
    history = TestHistory()
    assert history.record(run) is True
    assert history.record(run) is False
    assert history.seq == 1


def test_a_build_remembers_a_bounded_number_of_events_and_runs() -> None:
    from dataclasses import replace

    from argus_streams.failures.logic import FLAKINESS_WINDOW_BUILDS, MAX_EVENTS_PER_BUILD

    rng = random.Random(8)
    first = parse_run(executed_event(rng, tenant="t", suite="s", test="x", run=1, status="passed").to_bytes())
    history = TestHistory()
    for n in range(MAX_EVENTS_PER_BUILD + 500):  # one build, ever more events and runs
        assert history.record(replace(first, event_id=f"e{n}", run_id=f"r{n}", failed=n % 2 == 1)) is True
    failed, passed, seen = history.builds["build-0"]
    assert len(seen) == MAX_EVENTS_PER_BUILD and (len(failed), len(passed)) == (1, 1)
    assert history.record(replace(first, event_id="e7")) is False  # remembered: counted once
    assert history.seq == MAX_EVENTS_PER_BUILD + 500 and history.flakiness == 1.0
    for build in range(FLAKINESS_WINDOW_BUILDS * 2):
        history.record(replace(first, event_id=f"b{build}", build=f"b-{build}"))
    assert len(history.builds) == FLAKINESS_WINDOW_BUILDS and "build-0" not in history.builds


@pytest.mark.parametrize("field", ["build_id", "error_type"])
def test_ids_over_512_characters_are_data_errors(field: str) -> None:
    event = failed_event(random.Random(9), tenant="t", suite="s", test="x", signature_id=1, run=3)
    body = json.loads(event.to_json())
    (body["payload"]["failure_details"] if field == "error_type" else body["payload"])[field] = "x" * 513
    with pytest.raises(EventValidationError):
        parse_run(json.dumps(body).encode())


def test_signature_stats_are_order_independent() -> None:
    rng = random.Random(5)
    runs = runs_for([failed_event(rng, tenant="t", suite="s", test=f"x{i % 3}", signature_id=2, run=i)
                     for i in range(6)])
    results = set()
    for order in itertools.islice(itertools.permutations(runs), 0, 720, 37):
        stats = SignatureStats()
        for run in order:
            stats.record(run)
        results.add((stats.count, stats.first_seen, stats.last_seen, stats.sample_message,
                     tuple(sorted((k, tuple(v)) for k, v in stats.tests.items()))))
    assert len(results) == 1
    count, first, last, _, tests = results.pop()
    assert count == 6 and first < last
    assert dict((k, v[0]) for k, v in tests) == {"x0": 2, "x1": 2, "x2": 2}


def test_iso_utc_is_fixed_width_and_sortable() -> None:
    from datetime import UTC, datetime, timedelta, timezone
    a = iso_utc(datetime(2026, 1, 1, 12, tzinfo=timezone(timedelta(hours=2))))
    b = iso_utc(datetime(2026, 1, 1, 11, 30))
    assert a == "2026-01-01T10:00:00.000000Z" and a < b
    assert iso_utc(datetime(2026, 1, 1, tzinfo=UTC)).endswith("Z")


def test_dead_letter_has_the_seeds_fields_and_a_stable_id() -> None:
    record = dead_letters.SourceRecord(topic="argus.test.failed", partition=2, offset=41, key="suite-1",
                                       value=b"\xff{broken", headers={"tenant_id": "acme", "correlation_id": "c-1"})
    first = dead_letters.dead_letter(record, ValueError("bad"), "flink.failures")
    again = dead_letters.dead_letter(record, ValueError("bad"), "flink.failures")
    assert first.event_id == again.event_id  # a replay writes the same dead letter id
    assert (first.tenant_id, first.correlation_id) == ("acme", "c-1")
    assert set(first.payload) >= {"original_topic", "original_partition", "original_offset", "original_key",
                                  "original_value", "error_type", "error_message", "error_traceback"}
    assert first.payload["original_value_base64"] == "/3ticm9rZW4="
    assert first.metadata["retry_count"] == 1 and first.metadata["max_retries"] == 3
    retried = dead_letters.SourceRecord(**{**record.__dict__, "headers": {"retry_count": "2"}})
    assert dead_letters.dead_letter(retried, ValueError("bad"), "x").metadata["retry_count"] == 3


def test_a_dead_letter_belongs_to_the_tenant_its_event_names_not_its_header() -> None:
    """A header saying another tenant moves nothing into that tenant's review rows; a value that is not an
    event (no tenant of its own) falls back to the header."""
    value = json.dumps({"event_id": "x", "tenant_id": "acme", "correlation_id": "c-own", "payload": {}}).encode()
    record = dead_letters.SourceRecord(topic="argus.test.failed", partition=0, offset=1, key="suite-1", value=value,
                                       headers={"tenant_id": "globex", "correlation_id": "c-header"})
    letter = dead_letters.dead_letter(record, ValueError("bad"), "flink.failures")
    assert (letter.tenant_id, letter.correlation_id) == ("acme", "c-header")  # a correlation is no boundary
    assert letter.payload["original_headers"]["tenant_id"] == "globex"  # kept as the producer sent it
    unparsable = dead_letters.SourceRecord(**{**record.__dict__, "value": b"{not json"})
    assert dead_letters.dead_letter(unparsable, ValueError("bad"), "x").tenant_id == "globex"


def test_write_plan_keeps_the_newest_row_per_key() -> None:
    from argus_streams.failures.graph import WritePlan

    def failure(test: str, count: int, edge: int) -> dict:
        return {"kind": "failure", "tenant_id": "t", "signature": "s", "count": count, "first_seen": "a",
                "last_seen": str(count), "error_type": "E", "sample_message": "m", "test_id": test,
                "suite_id": "x", "edge_count": edge, "edge_last_seen": str(edge)}

    rows = [failure("t1", 5, 3), failure("t2", 4, 1), failure("t1", 3, 2),
            {"kind": "test", "tenant_id": "t", "test_id": "t1", "suite_id": "x", "flakiness": 0.5, "seq": 2},
            {"kind": "test", "tenant_id": "t", "test_id": "t1", "suite_id": "x", "flakiness": 0.0, "seq": 1}]
    plan = WritePlan.of(rows)
    assert [r["count"] for r in plan.failures] == [5]
    assert sorted((r["test_id"], r["edge_count"]) for r in plan.edges) == [("t1", 3), ("t2", 1)]
    assert plan.tests == [{"tenant_id": "t", "test_id": "t1", "suite_id": "x", "flakiness": 0.5, "seq": 2}]
    assert [len(rows) for _, rows in plan.statements()] == [1, 2, 1]


@pytest.mark.parametrize(
    ("error", "transient", "data"),
    [
        ("redis.ConnectionError('down')", True, False),
        ("redis.TimeoutError('slow')", True, False),
        ("redis.AuthenticationError('Authentication required.')", False, False),
        ("redis.ResponseError('errMsg: Invalid input')", False, True),
        ("neo4j.exceptions.ServiceUnavailable('down')", True, False),
        ("neo4j.exceptions.AuthError('bad password')", False, False),
        ("neo4j.exceptions.ClientError('Neo.ClientError.Statement.SyntaxError')", False, True),
        ("OSError('connection reset')", True, False),
        # One error policy: bad data is raised on purpose; a ValueError or TypeError of our own is a bug.
        ("BadData('a row the writer refuses')", False, True),
        ("UnicodeEncodeError('utf-8', '\\ud800', 0, 1, 'surrogates not allowed')", False, True),
        ("psycopg2.DataError('value out of range')", False, True),
        ("StoreUnavailable('review store down')", True, False),
        ("ValueError('a bug in a writer')", False, False),
        ("TypeError('unsupported operand')", False, False),
    ],
)
def test_graph_errors_are_classified(error: str, transient: bool, data: bool) -> None:
    import neo4j.exceptions  # noqa: F401 - used by eval
    import psycopg2  # noqa: F401 - used by eval
    import redis  # noqa: F401 - used by eval

    from argus_streams.errors import BadData, StoreUnavailable  # noqa: F401 - used by eval
    from argus_streams.stores.policy import is_data_error, is_transient

    exc = eval(error)  # noqa: S307 - fixed expressions above
    assert (is_transient(exc), is_data_error(exc)) == (transient, data)


def test_retry_transient_backs_off_then_succeeds() -> None:
    import asyncio

    import redis

    from argus_streams.stores.policy import retry_transient

    calls = []

    async def flaky() -> str:
        calls.append(1)
        if len(calls) < 3:
            raise redis.ConnectionError("down")
        return "ok"

    assert asyncio.run(retry_transient(flaky, initial_s=0.01, max_s=0.02)) == "ok"
    assert len(calls) == 3


def test_retry_transient_never_retries_data_errors() -> None:
    import asyncio

    import redis

    from argus_streams.stores.policy import retry_transient

    async def bad() -> None:
        raise redis.ResponseError("errMsg: Invalid input")

    with pytest.raises(redis.ResponseError):
        asyncio.run(retry_transient(bad, initial_s=0.01))


def test_tenant_failures_rows_are_the_hand_derived_graph() -> None:
    """TenantFailures, as the job drives it (record every event, then the rows of what changed), against the
    job tests' oracle: values derived from the published events by the spec, not by this code."""
    from tests.integration.test_failures_job import expected_failures, expected_nodes, valid_stream

    tenant = "acme"
    events = valid_stream([tenant], per_tenant=60)
    events += [events[3], events[10]]  # replays: counted once
    failures = TenantFailures(tenant, {})
    pending: dict = {}
    duplicates = 0
    for event in events:
        changed = failures.record(parse_run(event.to_json().encode()))
        if changed is None:
            duplicates += 1
        else:
            pending.update(changed)
    assert duplicates == 2
    rows = failures.rows(pending)
    expected_failure_nodes, expected_flakiness = expected_nodes(events, tenant)
    assert {row["error_type"]: (row["count"], row["first_seen"], row["last_seen"], row["sample_message"])
            for row in rows if row["kind"] == "failure"} == expected_failure_nodes
    error_type = {row["signature"]: row["error_type"] for row in rows if row["kind"] == "failure"}
    edges = Counter()
    for row in rows:
        if row["kind"] == "edge":
            edges[(error_type[row["signature"]], row["test_id"])] += row["edge_count"]
    assert edges == expected_failures(events[:-2])[tenant]  # the oracle counts what it is given: no replays
    tests = {(row["suite_id"], row["test_id"]): row["flakiness"] for row in rows if row["kind"] == "test"}
    assert tests.keys() == expected_flakiness.keys()
    assert {key: value for key, value in tests.items() if expected_flakiness[key] is not None} == \
        {key: value for key, value in expected_flakiness.items() if value is not None}
    assert all(row["tenant_id"] == tenant for row in rows)


def test_tenant_failures_rows_of_a_hand_written_sequence() -> None:
    """Every field of every row kind, for runs written out by hand (values derived by reading the spec)."""
    from argus_streams.failures.logic import TestRun

    def run(event_id: str, test: str, at: str, failed: bool = True, signature: str | None = "v1:s",
            error_type: str | None = "TimeoutError", message: str | None = "late", suite: str = "s1") -> TestRun:
        return TestRun(event_id=event_id, tenant_id="acme", suite_id=suite, test_id=test, run_id=f"r-{event_id}",
                       build="b1", failed=failed, at=at, signature=signature, error_type=error_type,
                       message=message)

    failures, pending = TenantFailures("acme", {}), {}
    for item in [run("e1", "t1", "2026-01-01T00:00:02.000000Z"),
                 run("e2", "t1", "2026-01-01T00:00:01.000000Z", message="earlier"),
                 run("e3", "t2", "2026-01-01T00:00:03.000000Z", suite="s2"),
                 run("e4", "t1", "2026-01-01T00:00:04.000000Z", failed=False, signature=None, error_type=None,
                     message=None)]:
        pending.update(failures.record(item))
    # a failed test.executed has no signature: it changes the test's history only
    executed_failed = run("e5", "t3", "2026-01-01T00:00:05.000000Z", signature=None, error_type=None, message=None)
    assert failures.record(executed_failed) == {"t\x1fs1\x1ft3": ("test", "s1", "t3")}
    assert sorted(pending) == ["e\x1fv1:s\x1ft1", "e\x1fv1:s\x1ft2", "f\x1fv1:s", "t\x1fs1\x1ft1", "t\x1fs2\x1ft2"]
    rows = sorted(failures.rows({"t\x1fgone\x1fx": ("test", "gone", "x"), **pending}),  # expired keys are skipped
                  key=lambda row: (row["kind"], row.get("test_id", "")))
    assert rows == [
        {"kind": "edge", "tenant_id": "acme", "signature": "v1:s", "test_id": "t1", "suite_id": "s1",
         "edge_count": 2, "edge_last_seen": "2026-01-01T00:00:02.000000Z"},
        {"kind": "edge", "tenant_id": "acme", "signature": "v1:s", "test_id": "t2", "suite_id": "s2",
         "edge_count": 1, "edge_last_seen": "2026-01-01T00:00:03.000000Z"},
        {"kind": "failure", "tenant_id": "acme", "signature": "v1:s", "count": 3,
         "first_seen": "2026-01-01T00:00:01.000000Z", "last_seen": "2026-01-01T00:00:03.000000Z",
         "error_type": "TimeoutError", "sample_message": "earlier"},
        # t1 failed and passed on build b1: flaky on 1 of 1 builds; 3 events counted
        {"kind": "test", "tenant_id": "acme", "suite_id": "s1", "test_id": "t1", "flakiness": 1.0, "seq": 3},
        {"kind": "test", "tenant_id": "acme", "suite_id": "s2", "test_id": "t2", "flakiness": 0.0, "seq": 1},
    ]
    # no error type and no message are empty strings in the graph, not None
    blank = TenantFailures("acme", {})
    changed = blank.record(run("e6", "t1", "2026-01-01T00:00:06.000000Z", error_type="", message=None))
    failure_row = next(row for row in blank.rows(changed) if row["kind"] == "failure")
    assert failure_row["error_type"] == "" and failure_row["sample_message"] == ""
