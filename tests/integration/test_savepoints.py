"""Savepoint round trips, as the Kubernetes manifests upgrade the jobs (`upgradeMode: savepoint`): take a
savepoint, cancel, submit again from it, and the state carries on exactly (nothing lost, nothing twice)."""

from __future__ import annotations

import random
import shutil
import threading
import time

import pytest
from argus_dev.samples import PAGE_AFTER_UI_CHANGE, failed_event, failure_details, locator_failure

from argus_streams.bus.gateway import EventGateway
from argus_streams.bus.io import consumer
from argus_streams.bus.lag import caught_up, describe_groups
from argus_streams.contract import dead_letters
from argus_streams.contract.events import ArgusEvent
from argus_streams.dlq import triage
from argus_streams.dlq.review import ReviewFilter
from argus_streams.failures.queries import failure_graph
from argus_streams.flink import cluster
from tests.integration import test_knowledge_graph_job as kg
from tests.integration.test_dlq_job import poll_one, producer, receiver, review, submit_dlq  # noqa: F401 - fixtures
from tests.integration.test_failures_job import assert_exact_graph, graph_totals, valid_stream, wait_for
from tests.integration.test_failures_job import submit as submit_failures
from tests.integration.test_healing_job import HealingTopics
from tests.unit import test_codegraph_extract as sample


def wait_consumed(settings, group: str, timeout_s: float = 120) -> None:  # noqa: ANN001
    """Until the group committed every offset: Flink commits at a checkpoint, so that checkpoint holds the
    state after every record read so far."""
    def check() -> tuple[bool, list]:
        rows = describe_groups(settings, [group])
        return caught_up(rows), rows

    wait_for(check, timeout_s=timeout_s, what=f"group {group} to catch up")


def test_failure_job_savepoint_restore_keeps_counts_history_and_flakiness(stack, settings) -> None:  # noqa: ANN001
    tenant = f"{settings.topic_prefix}-sp"
    first = valid_stream([tenant], per_tenant=100, seed=11)
    second = valid_stream([tenant], per_tenant=100, seed=12, start_run=100)  # 20 builds in all: the window
    job_id = submit_failures(stack, settings)
    try:
        with EventGateway(settings) as gateway:
            gateway.publish_many(first)
        wait_for(lambda: (graph_totals(settings, tenant, "neo4j") == 100, graph_totals(settings, tenant, "neo4j")),
                 what="the first half")
        path = cluster.savepoint(settings, job_id)
    finally:
        cluster.cancel(settings, job_id)
    with EventGateway(settings) as gateway:
        gateway.publish_many(second)  # while no job runs
    job_id = submit_failures(stack, settings, from_path=path)
    try:
        restored = cluster.restored_checkpoint(settings, job_id)
        assert restored is not None and restored["external_path"] == path, restored
        wait_for(lambda: (graph_totals(settings, tenant, "neo4j") == 200, graph_totals(settings, tenant, "neo4j")),
                 what="both halves")
        cluster.wait_checkpoints(settings, job_id, count=2)  # a replay that double counts would be in by now
        # Counts, first/last seen, samples and flakiness over both halves: a restore without the state would
        # write the second half's figures alone.
        assert_exact_graph(settings, first + second, [tenant])
    finally:
        cluster.cancel(settings, job_id)


def test_failure_job_savepoint_taken_mid_flow_holds_every_change_not_yet_written(stack, settings) -> None:  # noqa: ANN001
    """The aggregator's unwritten changes live on the heap and leave before each checkpoint barrier: a
    savepoint taken while events flow must still carry every one. Each event has a signature of its own, so
    a change lost at the savepoint is never rewritten by a later event: its Failure node would be missing."""
    tenants = [f"{settings.topic_prefix}-mid-{t}" for t in range(5)]
    rng, published, stop = random.Random(21), [0], threading.Event()

    def event(i: int) -> ArgusEvent:
        failed = failed_event(rng, tenant=tenants[i % 5], suite="s", test=f"t-{i % 50}", signature_id=0, run=i)
        details = failure_details(i % 6, i // 6, rng)
        return failed.model_copy(update={"payload": {**failed.payload, "failure_details": details}})

    def publish() -> None:  # a steady 2,000 events/s until the savepoint is taken
        with EventGateway(settings) as gateway:
            while not stop.is_set():
                gateway.publish_many([event(i) for i in range(published[0], published[0] + 100)])
                published[0] += 100
                time.sleep(0.05)

    def totals(store: str) -> tuple[int, int]:
        rows = [row for tenant in tenants for row in failure_graph(settings, tenant, store)["failures"]]
        return len(rows), sum(row["count"] for row in rows)

    job_id = submit_failures(stack, settings)
    publisher = threading.Thread(target=publish, daemon=True)
    publisher.start()
    try:
        wait_for(lambda: (totals("falkordb")[1] >= 2_000, totals("falkordb")), what="the first 2,000 events")
        path = cluster.savepoint(settings, job_id)
        written, sent = totals("falkordb")[1], published[0]
    finally:
        stop.set()
        publisher.join(timeout=60)
        cluster.cancel(settings, job_id)
    assert written < sent, "nothing was in flight when the savepoint was taken"
    count = published[0]
    job_id = submit_failures(stack, settings, from_path=path)
    try:
        wait_for(lambda: (totals("neo4j") == (count, count), totals("neo4j")), what="every event in Neo4j")
        wait_for(lambda: (totals("falkordb") == (count, count), totals("falkordb")), what="every event in FalkorDB")
    finally:
        cluster.cancel(settings, job_id)


def test_dlq_job_savepoint_restore_keeps_a_pending_retry_and_republishes_it_once(
        stack, settings, review, receiver, monkeypatch) -> None:  # noqa: ANN001, F811
    prefix = settings.topic_prefix
    topic = f"{prefix}.test.executed"
    event = failed_event(random.Random(6), tenant=f"{prefix}-acme", suite="s-sp", test="t", signature_id=0, run=1)
    # A 6th failure: republished after 2^6 = 64 s, long enough to take the savepoint while it waits.
    original = dead_letters.SourceRecord(topic=topic, partition=0, offset=7, key="s-sp", value=event.to_json().encode(),
                                         headers={"tenant_id": event.tenant_id, dead_letters.RETRY_COUNT_HEADER: "5"})
    letter = dead_letters.dead_letter(original, TimeoutError("graph write timed out"), "test-consumer", retryable=True)
    letter = letter.model_copy(update={"metadata": {**letter.metadata, "max_retries": triage.MAX_RETRIES_LIMIT}})
    assert letter.metadata["retry_count"] == 6
    group = f"{prefix}-dlq"
    job_id = submit_dlq(stack, settings, review, receiver, monkeypatch)
    sender = producer(settings)
    try:
        sender.send(f"{prefix}.dlq", key=b"s-sp", value=letter.to_json().encode(),
                    headers=[(k, v.encode()) for k, v in dead_letters.dead_letter_headers(original, 6).items() if v]
                    ).get(timeout=30)
        sent_at = time.monotonic()
        wait_consumed(settings, group)
        path = cluster.savepoint(settings, job_id)
    finally:
        sender.close()
        cluster.cancel(settings, job_id)
    assert time.monotonic() - sent_at < triage.backoff_ms(6) / 1000 - 5, "the retry was due before the savepoint"
    reader = consumer(settings, [topic], isolation_level="read_committed")
    try:
        assert poll_one(reader, timeout_s=3, required=False) is None  # not republished before the restore
        job_id = submit_dlq(stack, settings, review, receiver, monkeypatch, from_path=path)
        try:
            republished = poll_one(reader, timeout_s=triage.backoff_ms(6) / 1000 + 60)
            assert time.monotonic() - sent_at >= triage.backoff_ms(6) / 1000  # its timer, restored, not reset
            headers = {k: v.decode() for k, v in republished.headers}
            assert republished.value == event.to_json().encode() and headers[dead_letters.RETRY_COUNT_HEADER] == "6"
            cluster.wait_checkpoints(settings, job_id, count=2)  # a second republish would be committed by now
            assert poll_one(reader, timeout_s=3, required=False) is None
            assert review.find(ReviewFilter()) == []  # a retry, never a review
        finally:
            cluster.cancel(settings, job_id)
    finally:
        reader.close()


def test_healing_job_savepoint_restore_keeps_a_request_in_flight(stack, settings) -> None:  # noqa: ANN001
    """With the healer elsewhere (not answering), a request stays in flight in the decision state; after a
    savepoint and a restore from it, the same failure does not ask again while another test still does."""
    tenant = f"{settings.topic_prefix}-sp-heal"
    args = ("--topic-prefix", settings.topic_prefix, "--graph", settings.falkordb_graph,
            "--group-id", f"{settings.topic_prefix}-healing-sp", "--without-healer")
    job_id = cluster.submit(settings, "healing", stack_env=stack.layout.secrets_file, job_args=args)
    topics = HealingTopics(settings)
    try:
        cluster.wait_running(settings, job_id)
        with EventGateway(settings) as gateway:
            first = locator_failure(tenant, "t-order", "#place-order", PAGE_AFTER_UI_CHANGE, seed=21)
            gateway.publish(first)
            topics.wait("the request", lambda e: e["correlation_id"] == first.correlation_id)
            wait_consumed(settings, f"{settings.topic_prefix}-healing-sp")
            path = cluster.savepoint(settings, job_id)
            cluster.cancel(settings, job_id)
            again = locator_failure(tenant, "t-order", "#place-order", PAGE_AFTER_UI_CHANGE, seed=22)
            gateway.publish(again)  # while no job runs
            job_id = cluster.submit(settings, "healing", from_path=path, stack_env=stack.layout.secrets_file,
                                    job_args=args)
            cluster.wait_running(settings, job_id)
            restored = cluster.restored_checkpoint(settings, job_id)
            assert restored is not None and restored["external_path"] == path, restored
            control = locator_failure(tenant, "t-other", "#place-order", PAGE_AFTER_UI_CHANGE, seed=23)
            gateway.publish(control)  # proves the restored job is deciding
            topics.wait("the control request", lambda e: e["correlation_id"] == control.correlation_id)
            wait_consumed(settings, f"{settings.topic_prefix}-healing-sp")  # `again` was read and decided
            cluster.wait_checkpoints(settings, job_id, count=1)  # and its outputs committed
            topics.poll()
        requests = [e for e in topics.events["healing.requested"] if e["payload"]["test_id"] == "t-order"]
        assert [e["correlation_id"] for e in requests] == [first.correlation_id]  # the in-flight mark came back
        assert topics.of("healing.requested", again.correlation_id) == []
        assert len(topics.of("healing.requested", control.correlation_id)) == 1
    finally:
        topics.reader.close()
        cluster.cancel(settings, job_id)


def test_knowledge_graph_job_savepoint_restore_reads_on_from_its_offsets(stack, settings, tmp_path) -> None:  # noqa: ANN001
    """The knowledge-graph job keeps no keyed state; its savepoint holds the source's offsets. Restored, it
    analyses the ingest published while it was down, and not the one before the savepoint again."""
    tenant = f"{settings.topic_prefix}-sp-kg"
    root = tmp_path / "codebases"
    shutil.copytree(sample.SAMPLE, root / tenant / kg.PROJECT)
    analyzed = kg.Analyzed(settings)
    job_id = kg.submit(stack, settings, root)
    try:
        first = kg.ingested(tenant, kg.PROJECT, "c1")
        with EventGateway(settings) as gateway:
            gateway.publish(first)
        assert analyzed.next().correlation_id == first.correlation_id
        kg.assert_graph(settings, tenant, kg.expected_sample_graph())
        wait_consumed(settings, f"{settings.topic_prefix}-kg")
        path = cluster.savepoint(settings, job_id)
    finally:
        cluster.cancel(settings, job_id)
    pricing = root / tenant / kg.PROJECT / "api/pricing.py"
    pricing.write_text(pricing.read_text().replace("discount_rate", "rate_for")
                       .replace("return product.price * qty", "return qty * product.price"))
    (root / tenant / kg.PROJECT / "web/src/utils/money.ts").unlink()
    (root / tenant / kg.PROJECT / "api/broken.py").write_text("def oops(:\n")
    second = kg.ingested(tenant, kg.PROJECT, "c2")
    with EventGateway(settings) as gateway:
        gateway.publish(second)  # while no job runs
    job_id = kg.submit(stack, settings, root, from_path=path)
    try:
        restored = cluster.restored_checkpoint(settings, job_id)
        assert restored is not None and restored["external_path"] == path, restored
        changed = analyzed.next()
        assert changed.correlation_id == second.correlation_id  # not c1 again: the offsets came back
        assert changed.payload["nodes_deleted"] == 4 and changed.payload["nodes_written"] == 5
        kg.assert_graph(settings, tenant, kg.expected_after_change())
        cluster.wait_checkpoints(settings, job_id, count=2)  # a replay of c1 would be committed by now
        with pytest.raises(AssertionError, match="no codebase.analyzed event"):
            analyzed.next(timeout_s=3)
    finally:
        analyzed.reader.close()
        cluster.cancel(settings, job_id)
