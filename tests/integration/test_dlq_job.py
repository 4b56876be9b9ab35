"""The DLQ processor on the real stack: poison input ends in review with its context and one signed alert
each, while the good events land in the graph; a retryable failure is republished with backoff and the
retry_count header until it is over the limit, and then reviewed."""

from __future__ import annotations

import json
import random
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from argus_dev import flink_metrics
from argus_dev.poison import poison_values
from argus_dev.samples import failed_event
from kafka import KafkaProducer

from argus_streams.bus.gateway import EventGateway
from argus_streams.bus.io import consumer
from argus_streams.contract import dead_letters
from argus_streams.dlq import alerts, triage
from argus_streams.dlq.review import ReviewFilter, ReviewStore
from argus_streams.flink import cluster
from argus_streams.flink.kit import dead_letter_row
from tests.integration.test_failures_job import assert_exact_graph, graph_totals, valid_stream, wait_for
from tests.integration.test_failures_job import submit as submit_failures
from tests.unit.test_alerts import SECRET, Receiver

MAX_BYTES = 16 * 1024 * 1024


@pytest.fixture
def review(stack) -> Iterator[ReviewStore]:  # noqa: ANN001
    store = ReviewStore.from_settings(stack.settings(), schema=f"review_{uuid.uuid4().hex[:10]}")
    store.ensure_schema()
    yield store
    store.drop()
    store.close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    yield server
    server.server.shutdown()
    server.server.server_close()


def submit_dlq(stack, settings, review: ReviewStore, receiver: Receiver, monkeypatch,  # noqa: ANN001
               from_path: str | None = None) -> str:
    monkeypatch.setenv("ARGUS_ALERT_WEBHOOK_URL", receiver.url)  # read by `flink run`'s client: the job's settings
    monkeypatch.setenv("ARGUS_ALERT_WEBHOOK_SECRET", SECRET)
    job_id = cluster.submit(settings, "dlq", from_path=from_path, stack_env=stack.layout.secrets_file, job_args=(
        "--topic-prefix", settings.topic_prefix, "--group-id", f"{settings.topic_prefix}-dlq",
        "--review-schema", review.schema))
    cluster.wait_running(settings, job_id)
    return job_id


def producer(settings) -> KafkaProducer:  # noqa: ANN001
    return KafkaProducer(**settings.kafka_client_config(), max_request_size=MAX_BYTES, compression_type="gzip")


def verified_alerts(receiver: Receiver) -> list[dict[str, Any]]:
    bodies = []
    for headers, body in list(receiver.requests):
        assert alerts.verify(SECRET, headers, body)  # every alert is signed with the shared secret
        bodies.append(json.loads(body))
    return bodies


def test_poison_input_ends_in_review_and_good_events_in_the_graph(stack, settings, review, receiver,  # noqa: ANN001
                                                                   monkeypatch) -> None:
    prefix = settings.topic_prefix
    tenants = [f"{prefix}-acme", f"{prefix}-x'); DROP TABLE failed_events; --"]  # SQL metacharacters in ids
    events = valid_stream(tenants, per_tenant=40)
    with EventGateway(settings) as gateway:
        gateway.publish_many(events)
    poison = poison_values(failed_event(random.Random(3), tenant=tenants[0], suite="suite-0", test="t0",
                                        signature_id=0, run=10_000))
    assert len(poison) >= 20
    sender = producer(settings)
    positions: dict[tuple[int, int], str] = {}
    for n, (kind, value) in enumerate(poison.items()):
        sent = sender.send(f"{prefix}.test.failed", key=f"bad-{n}".encode(), value=value,
                           headers=[("tenant_id", tenants[0].encode()), ("correlation_id", f"c-{n}".encode()),
                                    ("x-trace", b"nul\x00inside")])  # PostgreSQL text refuses NUL
        meta = sent.get(timeout=30)
        positions[(meta.partition, meta.offset)] = kind
    sender.close()

    failures_job = submit_failures(stack, settings)
    dlq_job = submit_dlq(stack, settings, review, receiver, monkeypatch)
    try:
        expected_total = sum(1 for e in events if e.event_type.value == "test.failed")
        wait_for(lambda: (sum(graph_totals(settings, t, "neo4j") for t in tenants) == expected_total,
                          [graph_totals(settings, t, "neo4j") for t in tenants]), what="graph totals")
        assert_exact_graph(settings, events, tenants)

        wait_for(lambda: (len(review.find(ReviewFilter())) == len(poison), len(review.find(ReviewFilter()))),
                 timeout_s=120, what="every poison record in review")
        rows = review.find(ReviewFilter())
        assert {(r.original_partition, r.original_offset): positions.get((r.original_partition, r.original_offset))
                for r in rows} == positions  # each bad record once, by its Kafka position
        for row in rows:
            kind = positions[(row.original_partition, row.original_offset)]
            n = list(poison).index(kind)
            assert row.original_value == poison[kind], kind  # the exact bytes, even invalid UTF-8 and 10 MB
            assert row.original_key == f"bad-{n}" and row.original_topic == f"{prefix}.test.failed"
            assert row.tenant_id == tenants[0] and row.status == "pending" and row.retry_count == 1, kind
            assert row.error_type in {"EventValidationError", "UnexpectedEventType"}, kind
            assert row.error_message and "Traceback" in row.error_traceback, kind
        assert review.find(ReviewFilter(tenant=tenants[1])) == []  # tenants never see each other's rows

        wait_for(lambda: (len(receiver.requests) >= len(poison), len(receiver.requests)), timeout_s=60,
                 what="one alert per reviewed record")
        time.sleep(2)
        sent_alerts = verified_alerts(receiver)
        assert sorted(a["id"] for a in sent_alerts) == sorted(r.id for r in rows)  # one each, none twice

        metrics = flink_metrics.job_metrics(stack.layout, job_id=dlq_job)
        assert flink_metrics.total(metrics, "dlq_decisions", decision="review") == len(poison)
        assert flink_metrics.total(metrics, "dlq_decisions", decision="retry") == 0  # data errors: no retries
    finally:
        cluster.cancel(settings, dlq_job)
        cluster.cancel(settings, failures_job)


def test_retryable_failure_is_republished_with_backoff_then_reviewed(stack, settings, review, receiver,  # noqa: ANN001
                                                                     monkeypatch) -> None:
    """The test plays a consumer whose database keeps timing out: it dead-letters what it reads."""
    prefix = settings.topic_prefix
    topic = f"{prefix}.test.executed"
    event = failed_event(random.Random(4), tenant=f"{prefix}-acme", suite="suite-9", test="t9", signature_id=0, run=1)
    original = dead_letters.SourceRecord(topic=topic, partition=0, offset=0, key="suite-9",
                                         value=event.to_json().encode(),
                                headers={"tenant_id": event.tenant_id, "correlation_id": event.correlation_id})
    dlq_job = submit_dlq(stack, settings, review, receiver, monkeypatch)
    reader = consumer(settings, [topic], isolation_level="read_committed")
    sender = producer(settings)
    try:
        record, delays = original, []
        for attempt in (1, 2):
            row = dead_letter_row(record, TimeoutError("graph write timed out"), prefix, "test-consumer")
            letter = dead_letters.dead_letter(record, TimeoutError("graph write timed out"), "test-consumer",
                                              retryable=True)
            sender.send(row[0], key=(row[1] or "").encode(), value=letter.to_json().encode(),
                        headers=[(k, v.encode()) for k, v in row[3].items()]).get(timeout=30)
            sent_at = time.monotonic()
            republished = poll_one(reader, timeout_s=60)
            delays.append(time.monotonic() - sent_at)
            headers = {k: v.decode() for k, v in republished.headers}
            assert republished.value == event.to_json().encode() and republished.key == b"suite-9"
            assert headers[dead_letters.RETRY_COUNT_HEADER] == str(attempt)  # what the consumer's DLQ output reads back
            assert headers["correlation_id"] == event.correlation_id
            record = dead_letters.SourceRecord(topic=topic, partition=republished.partition, offset=republished.offset,
                                               key="suite-9", value=republished.value, headers=headers)
        assert delays[0] >= triage.backoff_ms(1) / 1000 and delays[1] >= triage.backoff_ms(2) / 1000, delays

        # The third failure is over max_retries: no republish, a review row and an alert.
        last = dead_letters.dead_letter(record, TimeoutError("graph write timed out"), "test-consumer", retryable=True)
        assert last.metadata["retry_count"] == dead_letters.MAX_RETRIES
        sender.send(f"{prefix}.dlq", key=b"suite-9", value=last.to_json().encode()).get(timeout=30)
        wait_for(lambda: (len(review.find(ReviewFilter())) == 1, review.find(ReviewFilter())), timeout_s=60,
                 what="the review row")
        (reviewed,) = review.find(ReviewFilter())
        assert reviewed.retry_count == dead_letters.MAX_RETRIES and reviewed.error_type == "TimeoutError"
        assert reviewed.original_value == event.to_json().encode()
        assert (reviewed.original_partition, reviewed.original_offset) == (record.partition, record.offset)
        assert poll_one(reader, timeout_s=12, required=False) is None  # never republished a third time
        wait_for(lambda: (len(receiver.requests) == 1, len(receiver.requests)), timeout_s=30, what="the alert")
        assert verified_alerts(receiver)[0]["id"] == reviewed.id
    finally:
        sender.close()
        reader.close()
        cluster.cancel(settings, dlq_job)


def poll_one(reader, timeout_s: float, required: bool = True):  # noqa: ANN001, ANN201
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        for batch in reader.poll(timeout_ms=200).values():
            assert len(batch) == 1, batch
            return batch[0]
    assert not required, "nothing was republished"
    return None
