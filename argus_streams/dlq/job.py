"""The DLQ processor: argus.dlq -> republish with backoff (retryable errors), or manual review + alert.

    argus-streams job submit dlq        (flink run -py jobs/dlq.py on the session cluster)

A dead letter whose error a retry can fix, seen fewer than max_retries times, is republished to its
original topic after 2^retry_count s (a processing-time timer in keyed state, never a sleep), with the
`retry_count` header that the jobs' DLQ side outputs read back; so a record that keeps failing comes back
with retry_count + 1 and eventually stops. Data errors and records over the limit go to the review store
in PostgreSQL (idempotent upsert) and raise an HMAC-signed webhook alert.

The DLQ topic is an input like any other: a letter that is not JSON, not a dead letter, or whose fields are
garbage (counts, headers, error type, a topic that is not one of ours) is reviewed with a note, never raised
on, and no delay a letter asks for exceeds triage.MAX_BACKOFF_MS (see triage.triage).

Delivery: republished records are written in Kafka transactions (exactly-once with the timers' state);
review rows are idempotent upserts keyed by the dead letter's id; alerts are at-least-once (a row is
marked alerted after its webhook delivery; receivers dedupe by X-Argus-Alert-Id).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from pyflink.common import Row, Time, Types, WatermarkStrategy
from pyflink.datastream import AsyncDataStream, AsyncFunction, AsyncRetryStrategy, DataStream, OutputTag
from pyflink.datastream.functions import KeyedProcessFunction, ProcessFunction, RuntimeContext
from pyflink.datastream.state import ValueStateDescriptor

from argus_streams.contract import dead_letters
from argus_streams.contract.events import DEFAULT_TOPIC_PREFIX, ArgusEvent, EventType, topic_for
from argus_streams.dlq import triage
from argus_streams.dlq.alerts import AlertSender, alert_new_rows
from argus_streams.dlq.review import (
    FailedEvent,
    ReviewStore,
    ReviewStoreUnavailable,
    row_from_dead_letter,
    row_from_event,
)
from argus_streams.flink.batching import MicroBatcher
from argus_streams.flink.counters import JobMetrics
from argus_streams.flink.kit import (
    OUT_RECORD_TYPE,
    RECORD_TYPE,
    create_env,
    job_parser,
    job_settings,
    kafka_sink,
    kafka_source,
    state_ttl,
)
from argus_streams.flink.spec import DLQ as SPEC
from argus_streams.settings import Settings
from argus_streams.stores.policy import retry_transient

REVIEW_TIMEOUT = Time.minutes(15)
REVIEW_CAPACITY = 1000
# PostgreSQL or the webhook down: retried inside for up to 10 min, then by Flink 5 times, then fail over.
REVIEW_RETRY = AsyncRetryStrategy.exponential_backoff(
    max_attempts=5, initial_delay=1000, max_retry_delay=30_000, multiplier=2.0,
    result_predicate=None, exception_predicate=lambda exc: True,
)
REVIEW_TAG = OutputTag("review", Types.PICKLED_BYTE_ARRAY())
# A pending retry waits at most triage.MAX_BACKOFF_MS for its timer, which then clears it: the TTL only bounds
# what a lost timer would leave behind, with room for a job that stays down for days.
PENDING_TTL = Time.days(7)
# Error types come from the letters: past this many distinct ones (or one that is no class name) the
# review counter says "other", so a stream of made-up error types cannot grow the metric series.
MAX_ERROR_TYPE_LABELS = 64
OTHER_LABEL = "other"


def review_row(record: dead_letters.SourceRecord) -> tuple[ArgusEvent | None, FailedEvent]:
    """The dead letter in `record` and its review row; a record that is no dead letter is itself reviewed."""
    try:
        letter = ArgusEvent.from_json(record.value or b"")
        return letter, row_from_event(letter)
    except Exception as exc:  # garbage on the DLQ topic: kept, as a dead letter of the DLQ record itself
        return None, row_from_dead_letter(dead_letters.dead_letter(record, exc, SPEC.source).to_json())


def decide(record: dead_letters.SourceRecord, prefix: str = DEFAULT_TOPIC_PREFIX) -> triage.Retry | FailedEvent:
    """One DLQ record's fate: a Retry, or its review row (noting why when the letter is not one of our
    jobs' own). Never raises for what the record holds."""
    letter, reviewed = review_row(record)
    decision = triage.triage(letter, prefix) if letter is not None else triage.Review(triage.INVALID_LETTER,
                                                                                      "not a dead letter")
    if isinstance(decision, triage.Retry):
        return decision
    if decision.kind in triage.SEED_KINDS:
        return reviewed
    note = str(decision) if reviewed.status_note is None else f"{decision}; {reviewed.status_note}"
    return replace(reviewed, status_note=note)


def error_type_label(error_type: str, seen: set[str]) -> str:
    """`error_type` as a metric label while `seen` holds fewer than MAX_ERROR_TYPE_LABELS, else "other"."""
    if error_type in seen:
        return error_type
    if len(seen) < MAX_ERROR_TYPE_LABELS and len(error_type) <= 100 \
            and all(part.isidentifier() for part in error_type.split(".")):
        seen.add(error_type)
        return error_type
    return OTHER_LABEL


class Triage(ProcessFunction):
    """Retryable dead letters go on (keyed by their id); data errors, exhausted and invalid ones to review."""

    def __init__(self, prefix: str = DEFAULT_TOPIC_PREFIX):
        self.prefix = prefix

    def open(self, runtime_context: RuntimeContext) -> None:
        self.metrics = JobMetrics(runtime_context.get_metrics_group())
        self.error_types: set[str] = set()

    def process_element(self, row: Any, ctx: ProcessFunction.Context):  # noqa: ANN201 - a generator
        decision = decide(dead_letters.SourceRecord.from_row(row), self.prefix)
        if isinstance(decision, triage.Retry):
            self.metrics.count("dlq_decisions", decision="retry")
            yield decision
        else:
            label = error_type_label(decision.error_type, self.error_types)
            self.metrics.count("dlq_decisions", decision="review", error_type=label)
            yield REVIEW_TAG, decision


def pending_descriptor() -> ValueStateDescriptor:
    descriptor = ValueStateDescriptor("pending-retry", Types.PICKLED_BYTE_ARRAY())
    descriptor.enable_time_to_live(state_ttl(PENDING_TTL))
    return descriptor


class Backoff(KeyedProcessFunction):
    """Keyed by the dead letter's id: hold the record until its backoff timer fires, then republish it."""

    def open(self, runtime_context: RuntimeContext) -> None:
        self.pending = runtime_context.get_state(pending_descriptor())

    def process_element(self, retry: triage.Retry, ctx: KeyedProcessFunction.Context):  # noqa: ANN201
        if self.pending.value() is None:  # the same dead letter twice (a producer retry): one republish
            self.pending.update(retry)
            delay = min(max(0, retry.delay_ms), triage.MAX_BACKOFF_MS)  # a Java long, never further than this
            ctx.timer_service().register_processing_time_timer(ctx.timer_service().current_processing_time() + delay)
        return iter(())

    def on_timer(self, timestamp: int, ctx: KeyedProcessFunction.OnTimerContext):  # noqa: ANN201
        retry: triage.Retry | None = self.pending.value()
        if retry is not None:
            self.pending.clear()
            yield Row(retry.topic, retry.key, retry.value, retry.headers)


class ReviewWrite(AsyncFunction):
    """Batched idempotent upserts into the review store, then one alert per row not alerted yet."""

    def __init__(self, settings: Settings, schema: str):
        self.settings, self.schema = settings, schema
        self._batcher: MicroBatcher[FailedEvent] | None = None
        self._store: ReviewStore | None = None
        self._sender: AlertSender | None = None

    def open(self, runtime_context: RuntimeContext) -> None:
        self.metrics = JobMetrics(runtime_context.get_metrics_group())
        self._batcher = None  # created on the operator's event loop, at first use

    def _write_sync(self, rows: Sequence[FailedEvent]) -> None:
        if self._store is None:
            self._store = ReviewStore.from_settings(self.settings, schema=self.schema)
            self._store.ensure_schema()
            self._sender = AlertSender.from_settings(self.settings)
        assert self._sender is not None
        result = self._store.upsert_many(rows)
        self.metrics.count("review_rows_inserted", len(result.inserted))
        for alert in alert_new_rows(self._store, self._sender, [row.id for row in rows]):
            self.metrics.count("dlq_alerts", outcome=alert.outcome)

    async def _write(self, rows: Sequence[FailedEvent]) -> None:
        async def attempt() -> None:
            try:
                await asyncio.to_thread(self._write_sync, rows)
            except ReviewStoreUnavailable:
                self._store = None  # reconnect at the next attempt
                raise

        # ~10 minutes of a store that is down: backpressure, nothing lost; then the task fails over
        await retry_transient(attempt, initial_s=0.5, max_s=15.0, what="review store")

    async def async_invoke(self, row: FailedEvent) -> list:
        if self._batcher is None:
            self._batcher = MicroBatcher(self._write)
        await self._batcher.submit(row)
        return []  # nothing downstream; the stream joins the sink only to be part of the job


def build_pipeline(env: Any, settings: Settings, group_id: str = SPEC.default_group, schema: str = "public") -> None:
    records: DataStream = env.from_source(
        kafka_source(settings, [topic_for(EventType.DLQ, settings.topic_prefix)], group_id),
        WatermarkStrategy.no_watermarks(), "Kafka: argus.dlq", type_info=RECORD_TYPE,
    ).uid(SPEC.uid("kafka-source"))
    triaged = records.process(Triage(settings.topic_prefix), output_type=Types.PICKLED_BYTE_ARRAY()) \
        .name("Triage: retry or review").uid(SPEC.uid("triage"))
    republished = triaged.key_by(lambda retry: retry.letter_id, key_type=Types.STRING()) \
        .process(Backoff(), output_type=OUT_RECORD_TYPE) \
        .name("Backoff 2^retry_count s (timers)").uid(SPEC.uid("backoff"))
    reviewed = AsyncDataStream.unordered_wait_with_retry(
        triaged.get_side_output(REVIEW_TAG), ReviewWrite(settings, schema), REVIEW_TIMEOUT, REVIEW_RETRY,
        REVIEW_CAPACITY, OUT_RECORD_TYPE,
    ).name("Review store + alert (async)").uid(SPEC.uid("review")).disable_chaining()
    republished.union(reviewed).sink_to(kafka_sink(settings, transactional_id_prefix=f"{group_id}-retry")) \
        .name("Kafka: republish to the original topics").uid(SPEC.uid("republish-sink"))


def main(argv: list[str] | None = None) -> None:
    parser = job_parser(__doc__, SPEC.default_group)
    parser.add_argument("--review-schema", default="public", help="PostgreSQL schema of the review store")
    args = parser.parse_args(argv)
    settings = job_settings(args, SPEC.name)
    env = create_env(args.parallelism)
    build_pipeline(env, settings, group_id=args.group_id, schema=args.review_schema)
    env.execute(SPEC.flink_name(args.group_id, settings.topic_prefix))


if __name__ == "__main__":
    main()
