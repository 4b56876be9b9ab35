"""Failure intelligence, without Flink: parse, per-test history and flakiness, per-signature statistics.

The Flink operators in `jobs/failures.py` hold these objects in keyed state and call these functions.
Every statistic is order-independent, so a replay after a restart converges to the same values.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from argus_streams import signature
from argus_streams.events import ArgusEvent, EventType
from argus_streams.payloads import TestExecuted, TestFailed, parse_payload

FAILURE_TOPICS = (EventType.TEST_FAILED, EventType.TEST_EXECUTED)
FLAKINESS_WINDOW_BUILDS = 20
SAMPLE_MESSAGE_CHARS = 300


class UnexpectedEventType(ValueError):
    """An event on our topics of a type this job does not read (a data error, sent to the DLQ)."""


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


def parse_run(raw: bytes) -> TestRun:
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
    still in the window is recognised and counted once. Bounded by the window, so no state TTL is needed.
    """

    __test__ = False
    builds: dict[str, tuple[set[str], set[str], set[str]]] = field(default_factory=dict)  # failed, passed, ids
    seq: int = 0

    def record(self, run: TestRun) -> bool:
        """Add a run; False (and nothing changed) when this event was already counted."""
        failed, passed, seen = self.builds.setdefault(run.build, (set(), set(), set()))
        if run.event_id in seen:
            return False
        seen.add(run.event_id)
        (failed if run.failed else passed).add(run.run_id)
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
class SignatureStats:
    count: int = 0
    first_seen: str = ""
    last_seen: str = ""
    error_type: str = ""
    sample_message: str = ""
    sample_key: tuple[str, str] = ("", "")
    tests: dict[str, list[Any]] = field(default_factory=dict)  # test_id -> [count, last_seen, suite_id]

    def record(self, run: TestRun) -> None:
        self.count += 1
        self.first_seen = min(self.first_seen or run.at, run.at)
        self.last_seen = max(self.last_seen, run.at)
        self.error_type = run.error_type or ""
        key = (run.at, run.event_id)  # the earliest failure is the sample, whatever the arrival order
        if not self.sample_message or key < self.sample_key:
            self.sample_key, self.sample_message = key, run.message or ""
        test = self.tests.setdefault(run.test_id, [0, "", run.suite_id])
        test[0] += 1
        test[1] = max(test[1], run.at)

    def upsert(self, run: TestRun) -> dict[str, Any]:
        edge_count, edge_last_seen, suite_id = self.tests[run.test_id]
        return {"kind": "failure", "tenant_id": run.tenant_id, "signature": run.signature, "count": self.count,
                "first_seen": self.first_seen, "last_seen": self.last_seen, "error_type": self.error_type,
                "sample_message": self.sample_message, "test_id": run.test_id, "suite_id": suite_id,
                "edge_count": edge_count, "edge_last_seen": edge_last_seen}
