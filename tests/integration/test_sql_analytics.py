"""The SQL analytics on the real stack: a known set of events on the broker, the exact rows of each query."""

from __future__ import annotations

import random
import time
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg2
from argus_dev.samples import failure_details
from kafka import KafkaProducer

from argus_streams.bus.gateway import EventGateway
from argus_streams.contract import dead_letters
from argus_streams.contract.events import ArgusEvent, EventType
from argus_streams.contract.topics import spec_for
from argus_streams.failures.signature import signature_id
from argus_streams.flink import cluster, sql_runner

T0 = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)
PARALLELISM = 1  # 2 cores shared with every server: small data, one slot
SIG_A, SIG_B, SIG_C, SIG_D, SIG_E, SIG_F = 0, 1000, 2000, 3000, 4000, 5000  # root causes (samples.py kinds)


def at(minutes: float = 0, seconds: float = 0) -> datetime:
    return T0 + timedelta(minutes=minutes, seconds=seconds)


def naive(moment: datetime) -> datetime:
    """How Flink returns a UTC TIMESTAMP(3)."""
    return moment.replace(tzinfo=None)


class Events:
    """Builds the known events; ids and volatile failure details are seeded so a run is reproducible."""

    def __init__(self) -> None:
        self.rng = random.Random(7)
        self.events: list[ArgusEvent] = []

    def _id(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def add(self, event_type: EventType, tenant: str, when: datetime, payload: dict[str, Any],
            correlation_id: str | None = None) -> ArgusEvent:
        event = ArgusEvent(event_id=self._id(), event_type=event_type, timestamp=when, source="sql-test",
                           tenant_id=tenant, correlation_id=correlation_id or self._id(), payload=payload)
        self.events.append(event)
        return event

    def run(self, tenant: str, suite: str, test: str, build: str, when: datetime, status: str) -> None:
        payload = {"test_id": test, "test_suite_id": suite, "project_id": "web", "run_id": self._id(),
                   "build_id": build, "status": status, "duration_ms": 100}
        self.add(EventType.TEST_EXECUTED, tenant, when, payload)

    def failure(self, tenant: str, suite: str, test: str, build: str, when: datetime, cause: int,
                by_commit: bool = False) -> None:
        kind, variant = divmod(cause, 1000)
        payload = {"test_id": test, "test_suite_id": suite, "project_id": "web", "run_id": self._id(),
                   "failure_details": failure_details(kind, variant, self.rng)}
        payload["commit_sha" if by_commit else "build_id"] = build
        self.add(EventType.TEST_FAILED, tenant, when, payload)

    def healing(self, tenant: str, requested: datetime | None, completed: datetime, status: str,
                source: str = "healer") -> None:
        correlation = self._id()
        details = {"error_type": "TimeoutError", "message": "waiting for locator('#buy')", "selector": "#buy"}
        if requested is not None:
            self.add(EventType.HEALING_REQUESTED, tenant, requested, {
                "test_id": "t1", "signature": "v1:x", "failure_details": details}, correlation)
        fix = {"selector": "#buy-btn", "strategy": "locator", "confidence": 0.9} if status == "healed" else None
        self.add(EventType.HEALING_COMPLETED, tenant, completed, {
            "test_id": "t1", "signature": "v1:x", "status": status, "source": source, "fix": fix}, correlation)


def known_events(prefix: str) -> tuple[list[ArgusEvent], list[ArgusEvent]]:
    """(events through the gateway, dead letters) of two tenants between 09:00 and 11:00 UTC."""
    e = Events()
    # acme / checkout, build b1 in minute 09:00: t1 passes, fails, passes (flaky, 2 flips); t2 is skipped.
    e.run("acme", "checkout", "t1", "b1", at(0, 5), "passed")
    e.failure("acme", "checkout", "t1", "b1", at(0, 10), SIG_A)
    e.run("acme", "checkout", "t1", "b1", at(0, 20), "passed")
    e.run("acme", "checkout", "t2", "b1", at(0, 40), "skipped")
    e.run("acme", "search", "t9", "b1", at(0, 50), "passed")
    # minute 09:01: only failures (t3 reported twice, t4 three times); nothing flaky.
    e.failure("acme", "checkout", "t3", "b2", at(1, 10), SIG_A)
    e.run("acme", "checkout", "t3", "b2", at(1, 20), "failed")
    e.failure("acme", "checkout", "t4", "b2", at(1, 30), SIG_B)
    e.failure("acme", "checkout", "t4", "b2", at(1, 40), SIG_B)
    e.failure("acme", "checkout", "t4", "b2", at(1, 50), SIG_A)
    # 09:30: four more root causes, once each (the top 5 of the hour cuts one), a run by commit only.
    for n, cause in enumerate((SIG_C, SIG_D, SIG_E, SIG_F)):
        e.failure("acme", "search", "t9", "c0ffee", at(30, 10 * n), cause, by_commit=True)
    e.failure("acme", "search", "t9", "c0ffee", at(65), SIG_A)  # 10:05, the next hour
    # globex: a skipped run alone in its minute, then t5 fails and passes on build b7.
    e.run("globex", "checkout", "t1", "b7", at(2), "skipped")
    e.failure("globex", "checkout", "t5", "b7", at(10), SIG_B)
    e.run("globex", "checkout", "t5", "b7", at(11), "passed")
    # Healing: answers after 600 ms and 1.5 s (healed), 200 ms (unhealable), one too late to join (> 1 h),
    # a cache hit without a request; globex healed in 400 ms across the hour.
    e.healing("acme", at(0), at(0, 0.6), "healed")
    e.healing("acme", at(20), at(20, 1.5), "healed")
    e.healing("acme", at(40), at(40, 0.2), "unhealable")
    e.healing("acme", at(50), at(120), "healed")
    e.healing("acme", None, at(45), "healed", source="cache")
    e.healing("globex", at(59, 59.9), at(60, 0.3), "healed")
    # The other topics, once each.
    e.add(EventType.CODEBASE_INGESTED, "globex", at(15), {"project_id": "web", "codebase_path": "file:///srv/web"})
    e.add(EventType.CODEBASE_ANALYZED, "globex", at(16), {"project_id": "web", "files": 3, "entities": 9,
                                                           "edges": 12, "parse_errors": 0, "duration_ms": 81.5})
    e.add(EventType.TEST_CREATED, "acme", at(17), {"test_id": "t9", "test_name": "search", "test_type": "e2e",
                                                    "project_id": "web", "test_spec": {"steps": [1, 2]}})
    letters = [
        dead_letter(prefix, "test.failed", 0, "acme", at(5), ValueError("not JSON")),
        dead_letter(prefix, "test.failed", 1, "globex", at(6), ValueError("not JSON")),
        dead_letter(prefix, "test.executed", 0, "acme", at(7), KeyError("status"), retries=1),
        dead_letter(prefix, "test.failed", 2, None, at(61), ValueError("not JSON")),
    ]
    return e.events, letters


def dead_letter(prefix: str, topic: str, offset: int, tenant: str | None, when: datetime, error: Exception,
                retries: int = 0) -> ArgusEvent:
    headers = {"tenant_id": tenant} if tenant else {}
    if retries:
        headers[dead_letters.RETRY_COUNT_HEADER] = str(retries)
    record = dead_letters.SourceRecord(topic=f"{prefix}.{topic}", partition=0, offset=offset, key=None, value=b"{oops",
                                       headers=headers)
    return dead_letters.dead_letter(record, error, "sql-test", tb="", now=when)


def publish(settings, events: list[ArgusEvent], letters: list[ArgusEvent]) -> None:  # noqa: ANN001
    with EventGateway(settings) as gateway:
        gateway.publish_many(events + letters)
    producer = KafkaProducer(**settings.kafka_client_config())
    producer.send(f"{settings.topic_prefix}.test.failed", value=b"{this is not json")  # skipped by the tables
    producer.flush()
    producer.close()


def rows_of(settings, name: str) -> list[tuple[Any, ...]]:  # noqa: ANN001
    query = sql_runner.parse_query(sql_runner.SQL_DIR / f"{name}.sql")
    _, rows = sql_runner.query_rows(settings, query, parallelism=PARALLELISM)
    return sorted(rows, key=repr)


def signature_of(event: ArgusEvent) -> str:
    details = event.payload["failure_details"]
    return signature_id(details["error_type"], details["message"], details["stack_trace"], details.get("selector"))


def window(minute: int, length: int = 60) -> tuple[datetime, datetime]:
    """(window_start, window_end) of the window of `length` minutes that starts at 09:00 + minute."""
    return naive(at(minute)), naive(at(minute + length))


def expected_top_signatures(events: list[ArgusEvent]) -> list[tuple[Any, ...]]:
    """Per tenant and hour: the 5 most frequent signatures (ties by signature), counted here in Python."""
    groups: dict[tuple[str, datetime], Counter[str]] = {}
    tests: dict[tuple[str, datetime, str], set[str]] = {}
    types: dict[str, str] = {}
    for event in events:
        if event.event_type is EventType.TEST_FAILED:
            hour = naive(event.timestamp.replace(minute=0, second=0, microsecond=0))
            sig = signature_of(event)
            groups.setdefault((event.tenant_id, hour), Counter())[sig] += 1
            tests.setdefault((event.tenant_id, hour, sig), set()).add(event.payload["test_id"])
            types[sig] = event.payload["failure_details"]["error_type"]
    rows = []
    for (tenant, hour), counts in groups.items():
        ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))[:5]
        for rank, (sig, count) in enumerate(ranked, start=1):
            rows.append((hour, hour + timedelta(hours=1), tenant, rank, sig, types[sig], count,
                         len(tests[(tenant, hour, sig)])))
    return sorted(rows, key=repr)


def test_each_query_returns_the_exact_rows(settings) -> None:  # noqa: ANN001
    events, letters = known_events(settings.topic_prefix)
    publish(settings, events, letters)

    assert rows_of(settings, "failure_rate_per_suite") == sorted([
        (*window(0, 1), "acme", "checkout", 2, 1, 1, 0.3333),
        (*window(0, 1), "acme", "search", 1, 0, 0, 0.0),
        (*window(1, 1), "acme", "checkout", 0, 5, 0, 1.0),
        (*window(2, 1), "globex", "checkout", 0, 0, 1, None),  # only a skipped run: no rate
        (*window(10, 1), "globex", "checkout", 0, 1, 0, 1.0),
        (*window(11, 1), "globex", "checkout", 1, 0, 0, 0.0),
        (*window(30, 1), "acme", "search", 0, 4, 0, 1.0),
        (*window(65, 1), "acme", "search", 0, 1, 0, 1.0),
    ], key=repr)

    assert rows_of(settings, "flaky_tests") == sorted([
        ("acme", "checkout", "t1", "b1", 2, 1, 2),
        ("globex", "checkout", "t5", "b7", 1, 1, 1),
    ], key=repr)

    top = rows_of(settings, "top_failure_signatures")
    assert top == expected_top_signatures(events)
    acme_9 = [row for row in top if row[2] == "acme" and row[0] == naive(at(0))]
    assert [(row[3], row[5], row[6], row[7]) for row in acme_9[:2]] == [
        (1, "TimeoutError", 3, 3), (2, "NoSuchElementException", 2, 1)]  # A on t1, t3, t4; B twice on t4
    assert len(acme_9) == 5  # 6 root causes that hour: the 6th is cut

    assert rows_of(settings, "healing_outcomes") == sorted([
        (*window(0), "acme", 3, 2, 1, 0.6667, 1050, 1500),  # 600 and 1500 ms; the late answer and cache hit left out
        (*window(60), "globex", 1, 1, 0, 1.0, 400, 400),
    ], key=repr)

    failed, executed = f"{settings.topic_prefix}.test.failed", f"{settings.topic_prefix}.test.executed"
    assert rows_of(settings, "dlq_inflow") == sorted([
        (*window(0), failed, "ValueError", 2, 2, 0),
        (*window(0), executed, "KeyError", 1, 1, 1),  # a replayed record that failed again
        (*window(60), failed, "ValueError", 1, 1, 0),  # no tenant: `unknown`
    ], key=repr)

    volume = Counter((naive(ev.timestamp.replace(minute=0, second=0, microsecond=0)), ev.tenant_id,
                      ev.event_type.value) for ev in events + letters)
    assert rows_of(settings, "ingestion_volume") == sorted(
        [(hour, hour + timedelta(hours=1), tenant, kind, count) for (hour, tenant, kind), count in volume.items()],
        key=repr)
    assert volume[(naive(at(60)), "unknown", "dlq")] == 1 and len({kind for _, _, kind in volume}) == 8


def test_a_continuous_query_keeps_a_postgres_table_current(settings) -> None:  # noqa: ANN001
    _, letters = known_events(settings.topic_prefix)
    publish(settings, [], letters)
    close_windows_before(settings, at(180))
    table = f"analytics.{settings.topic_prefix.replace('-', '_')}_dlq_inflow"
    query = sql_runner.parse_query(sql_runner.SQL_DIR / "dlq_inflow.sql")
    job_id, _ = sql_runner.to_postgres(settings, query, table=table, parallelism=PARALLELISM)
    failed, executed = f"{settings.topic_prefix}.test.failed", f"{settings.topic_prefix}.test.executed"
    expected = sorted([
        (*window(0), failed, "ValueError", 2, 2, 0),
        (*window(0), executed, "KeyError", 1, 1, 1),
        (*window(60), failed, "ValueError", 1, 1, 0),
    ], key=repr)
    rows: list[tuple[Any, ...]] = []
    try:
        cluster.wait_running(settings, job_id)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and rows != expected:
            time.sleep(2)
            rows = sorted(pg_rows(settings, table), key=repr)
        assert rows == expected
        assert [job.state for job in cluster.list_jobs(settings) if job.id == job_id] == ["RUNNING"]
    finally:
        cluster.cancel(settings, job_id)
        with psycopg2.connect(settings.database_url.get_secret_value()) as conn, conn.cursor() as cursor:
            cursor.execute(f"DROP TABLE IF EXISTS {table}")


def close_windows_before(settings, moment: datetime) -> None:  # noqa: ANN001
    """A letter at `moment` on every DLQ partition: each partition's watermark passes every earlier window
    (with letters on some partitions only, the result would hang on which partitions went idle first)."""
    producer = KafkaProducer(**settings.kafka_client_config())
    for partition in range(spec_for(EventType.DLQ).partitions):
        letter = dead_letter(settings.topic_prefix, "test.failed", 100 + partition, "acme", moment, ValueError("x"))
        producer.send(f"{settings.topic_prefix}.dlq", value=letter.to_bytes(), partition=partition)
    producer.flush()
    producer.close()


def pg_rows(settings, table: str) -> list[tuple[Any, ...]]:  # noqa: ANN001
    with psycopg2.connect(settings.database_url.get_secret_value()) as conn, conn.cursor() as cursor:
        cursor.execute(f"SELECT * FROM {table}")  # noqa: S608 - the test's own table name
        return list(cursor.fetchall())
