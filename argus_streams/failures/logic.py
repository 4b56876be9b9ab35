"""Failure intelligence, without Flink: parse, per-test history and flakiness, per-signature statistics.

The Flink operators in `jobs/failures.py` hold these objects in keyed state and call these functions.
Every statistic is order-independent, so a replay after a restart converges to the same values.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from argus_streams.contract.events import ArgusEvent, EventType
from argus_streams.contract.payloads import TestExecuted, TestFailed, parse_payload
from argus_streams.errors import BadData
from argus_streams.failures import signature

FAILURE_TOPICS = (EventType.TEST_FAILED, EventType.TEST_EXECUTED)
FLAKINESS_WINDOW_BUILDS = 20
# A test runs a few times a build (retries, shards); the ids a build remembers are capped so a stream of
# one test's events in one build cannot grow its state without bound. Past the cap a build still counts
# every new event, but recognises only the first MAX_EVENTS_PER_BUILD ids as duplicates. Flakiness needs
# only whether a build failed and passed, so one run id of each kind is enough.
MAX_EVENTS_PER_BUILD = 1000
SAMPLE_MESSAGE_CHARS = 300


class UnexpectedEventType(BadData):
    """An event on our topics of a type this job does not read (a data error, sent to the DLQ)."""


class TenantKeyMismatch(BadData):
    """An event whose own tenant_id is not the tenant it was keyed by (a data error, sent to the DLQ)."""


def iso_utc(moment: datetime) -> str:
    """One fixed, lexicographically ordered text form for every timestamp we store."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass(frozen=True)
class TestRun:
    """One `test.failed` or `test.executed`, reduced to what the aggregation needs."""

    __test__ = False
    event_id: str
    tenant_id: str
    suite_id: str
    test_id: str
    run_id: str
    build: str
    failed: bool
    at: str
    signature: str | None = None
    error_type: str | None = None
    message: str | None = None
    event_type: str = EventType.TEST_EXECUTED.value

    @property
    def suite_key(self) -> str:
        return f"{self.tenant_id}\x1f{self.suite_id}"

    @property
    def signature_key(self) -> str:
        return f"{self.tenant_id}\x1f{self.signature}"


# A TestRun as the JVM aggregation reads it (FailureEntries.java: the same order).
TEST_RUN_FIELDS = ("tenant_id", "event_id", "suite_id", "test_id", "run_id", "build", "failed", "at", "signature",
                   "error_type", "message")


# A JSON escape of a UTF-16 surrogate: the only way a lone surrogate gets into a parsed string (strict UTF-8
# decoding refuses encoded ones).
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")


def run_fields(run: TestRun, raw: bytes | None = None) -> tuple[Any, ...]:
    """The run's TEST_RUN_FIELDS. Raises UnicodeEncodeError (bad data) on a lone surrogate, which JSON's
    `\\ud800` escapes can put in a Python string and which no UTF-8 coder on the way to the JVM can carry
    (pydantic refuses them in every string field today; this keeps a field that stops being validated from
    crashing the coder). Given the record `raw` it was parsed from, it checks only when `raw` holds such an
    escape."""
    fields = (run.tenant_id, run.event_id, run.suite_id, run.test_id, run.run_id, run.build, run.failed, run.at,
              run.signature, run.error_type, run.message)
    if raw is None or _SURROGATE_ESCAPE.search(raw):
        for value in fields:
            if isinstance(value, str):
                value.encode("utf-8")
    return fields


def parse_run(raw: bytes | None) -> TestRun:
    """Validate one record of our topics; raises EventValidationError / UnexpectedEventType on bad input."""
    event = ArgusEvent.from_json(raw)
    if event.event_type not in FAILURE_TOPICS:
        raise UnexpectedEventType(f"event_type {event.event_type.value!r} is not read by the failure job")
    payload = parse_payload(event)
    common = {"event_id": event.event_id, "tenant_id": event.tenant_id, "at": iso_utc(event.timestamp)}
    if isinstance(payload, TestFailed):
        details = payload.failure_details
        sig = signature.compute(details.model_dump())
        return TestRun(**common, suite_id=payload.test_suite_id, test_id=payload.test_id, run_id=payload.run_id,
                       build=payload.build, failed=True, signature=sig.id, error_type=sig.error_type,
                       message=details.message[:SAMPLE_MESSAGE_CHARS], event_type=event.event_type.value)
    assert isinstance(payload, TestExecuted)
    return TestRun(**common, suite_id=payload.test_suite_id, test_id=payload.test_id, run_id=payload.run_id,
                   build=payload.build, failed=payload.status == "failed")


# Per test: pass/fail history by build, and the flakiness score -------------------------------------
@dataclass
class TestHistory:
    """Runs of one test by build (the last FLAKINESS_WINDOW_BUILDS builds), and the events already counted.

    The event ids double as the deduplication set: a producer retry or a republished record of a build
    still in the window is recognised and counted once. Bounded: FLAKINESS_WINDOW_BUILDS builds of at most
    MAX_EVENTS_PER_BUILD ids and one failed and one passed run id each (ids are at most 512 characters).
    """

    __test__ = False
    builds: dict[str, tuple[set[str], set[str], set[str]]] = field(default_factory=dict)  # failed, passed, ids
    seq: int = 0

    def record(self, run: TestRun) -> bool:
        """Add a run; False (and nothing changed) when this event was already counted."""
        failed, passed, seen = self.builds.setdefault(run.build, (set(), set(), set()))
        if run.event_id in seen:
            return False
        if len(seen) < MAX_EVENTS_PER_BUILD:
            seen.add(run.event_id)
        runs = failed if run.failed else passed
        if not runs:
            runs.add(run.run_id)
        while len(self.builds) > FLAKINESS_WINDOW_BUILDS:
            del self.builds[next(iter(self.builds))]  # the oldest build seen goes first
        self.seq += 1
        return True

    @property
    def flakiness(self) -> float:
        """Share of builds on which the test both failed and passed (0 = stable, 1 = always flips)."""
        if not self.builds:
            return 0.0
        flaky = sum(1 for failed, passed, _ in self.builds.values() if failed and passed)
        return round(flaky / len(self.builds), 4)

    def upsert(self, run: TestRun) -> dict[str, Any]:
        return {"kind": "test", "tenant_id": run.tenant_id, "test_id": run.test_id, "suite_id": run.suite_id,
                "flakiness": self.flakiness, "seq": self.seq}


# Per signature: counts, first/last seen, tests affected ----------------------------------------------
@dataclass
class FailureTally:
    """The Failure node of one (tenant, signature): SignatureStats without the per-test map, so a
    signature's state stays the same size however many tests it touches (those are EdgeTally entries)."""

    count: int = 0
    first_seen: str = ""
    last_seen: str = ""
    error_type: str = ""
    sample_message: str = ""
    sample_key: tuple[str, str] = ("", "")

    def record(self, run: TestRun) -> None:
        self.count += 1
        self.first_seen = min(self.first_seen or run.at, run.at)
        self.last_seen = max(self.last_seen, run.at)
        self.error_type = run.error_type or ""
        key = (run.at, run.event_id)  # the earliest failure is the sample, whatever the arrival order
        if not self.sample_message or key < self.sample_key:
            self.sample_key, self.sample_message = key, run.message or ""


@dataclass
class SignatureStats(FailureTally):
    """A FailureTally with every test it touched (the Quix contender's and the benchmark's one row per event)."""

    tests: dict[str, list[Any]] = field(default_factory=dict)  # test_id -> [count, last_seen, suite_id]

    def record(self, run: TestRun) -> None:
        super().record(run)
        test = self.tests.setdefault(run.test_id, [0, "", run.suite_id])
        test[0] += 1
        test[1] = max(test[1], run.at)

    def upsert(self, run: TestRun) -> dict[str, Any]:
        edge_count, edge_last_seen, suite_id = self.tests[run.test_id]
        return {"kind": "failure", "tenant_id": run.tenant_id, "signature": run.signature, "count": self.count,
                "first_seen": self.first_seen, "last_seen": self.last_seen, "error_type": self.error_type,
                "sample_message": self.sample_message, "test_id": run.test_id, "suite_id": suite_id,
                "edge_count": edge_count, "edge_last_seen": edge_last_seen}


# Per tenant, as the failure job keeps it: one flat entry per test, per signature and per (signature, test)
@dataclass
class EdgeTally:
    """The HAD_FAILURE edge of one (tenant, signature, test)."""

    count: int = 0
    last_seen: str = ""
    suite_id: str = ""

    def record(self, run: TestRun) -> None:
        self.count += 1
        self.last_seen = max(self.last_seen, run.at)
        self.suite_id = self.suite_id or run.suite_id


# What a changed entry needs to become a graph row: its kind and the ids its key was made of.
Changed = dict[str, tuple[str, ...]]


class TenantFailures:
    """One tenant's failure state as flat entries of a key -> value mapping (the job's MapState and its
    in-memory mirror): `t` histories per (suite, test), `f` tallies per signature, `e` tallies per
    (signature, test). Each event changes at most three entries, so the cost of an event and of its
    state write is the same however many tests, suites or signatures the tenant has.

    `record` returns the entries an event changed (None for a duplicate); `rows` turns changed entries
    into the graph's upsert rows, read from the mapping when they are written, so a key changed many
    times between two writes is written once, with its newest values.
    """

    def __init__(self, tenant_id: str, entries: Any):
        self.tenant_id = tenant_id
        self.entries = entries

    @staticmethod
    def history_key(run: TestRun) -> str:
        return f"t\x1f{run.suite_id}\x1f{run.test_id}"

    def record(self, run: TestRun) -> Changed | None:
        key = self.history_key(run)
        history = self.entries.get(key) or TestHistory()
        if not history.record(run):
            return None  # a producer retry or a republished record: counted once
        self.entries[key] = history
        changed: Changed = {key: ("test", run.suite_id, run.test_id)}
        if run.failed and run.signature:
            node_key, edge_key = f"f\x1f{run.signature}", f"e\x1f{run.signature}\x1f{run.test_id}"
            tally = self.entries.get(node_key) or FailureTally()
            tally.record(run)
            self.entries[node_key] = tally
            edge = self.entries.get(edge_key) or EdgeTally()
            edge.record(run)
            self.entries[edge_key] = edge
            changed[node_key] = ("failure", run.signature)
            changed[edge_key] = ("edge", run.signature, run.test_id)
        return changed

    def rows(self, changed: Changed) -> list[dict[str, Any]]:
        """The upsert rows of the changed entries, in no particular order (WritePlan writes Failure nodes
        before the edges that MATCH them)."""
        rows = []
        for key, ids in changed.items():
            value = self.entries.get(key)
            if value is None:
                continue  # expired from state since it changed: nothing newer to write
            rows.append(self._row(ids, value))
        return rows

    def _row(self, ids: tuple[str, ...], value: Any) -> dict[str, Any]:
        kind, tenant = ids[0], self.tenant_id
        if kind == "test":
            return {"kind": "test", "tenant_id": tenant, "suite_id": ids[1], "test_id": ids[2],
                    "flakiness": value.flakiness, "seq": value.seq}
        if kind == "failure":
            return {"kind": "failure", "tenant_id": tenant, "signature": ids[1], "count": value.count,
                    "first_seen": value.first_seen, "last_seen": value.last_seen, "error_type": value.error_type,
                    "sample_message": value.sample_message}
        return {"kind": "edge", "tenant_id": tenant, "signature": ids[1], "test_id": ids[2],
                "suite_id": value.suite_id, "edge_count": value.count, "edge_last_seen": value.last_seen}
