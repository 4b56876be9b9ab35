"""Hostile records into the four running jobs: none restarts, each bad record is reviewed exactly once.

Malformed values on all 8 topics, records that were crash loops (a healed `healing.completed` without its
fix, dead letters whose retry_count, headers, error_type or original_topic are garbage), refused codebase
paths, a `test.created` nested too deep, and valid events that were time bombs (masks that backtracked
for seconds, a CSS selector whose matching was exponential, a codebase holding a FIFO) are published before
the jobs start. Then: every bad record is in the review store exactly once (one row per record, whichever
job wrote it first), no job has an exception or a restart, the bombs are counted in the graph, and a good
event published after all of them reaches the graph.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import time
from collections import Counter
from pathlib import Path
from typing import Any

from argus_dev.poison import nested
from argus_dev.samples import failed_event

from argus_streams.bus.gateway import EventGateway
from argus_streams.contract.events import ArgusEvent, EventType, topic_for
from argus_streams.dlq.review import ReviewFilter
from argus_streams.flink import cluster
from tests.integration.test_dlq_job import producer, receiver, review, submit_dlq  # noqa: F401 - fixtures
from tests.integration.test_failures_job import graph_totals, wait_for
from tests.integration.test_failures_job import submit as submit_failures
from tests.integration.test_knowledge_graph_job import PROJECT
from tests.integration.test_knowledge_graph_job import submit as submit_kg
from tests.unit import test_codegraph_extract as sample

FAILURES, HEALING, KG, DLQ = "flink.failures", "flink.healing", "argus-flink-knowledge-graph", "flink.dlq"
READERS = {  # who reads each topic, so who dead-letters what it cannot parse
    EventType.TEST_FAILED: (FAILURES, HEALING, KG), EventType.TEST_EXECUTED: (FAILURES, HEALING),
    EventType.TEST_CREATED: (KG,), EventType.CODEBASE_INGESTED: (KG,), EventType.CODEBASE_ANALYZED: (),
    EventType.HEALING_REQUESTED: (HEALING,), EventType.HEALING_COMPLETED: (HEALING,), EventType.DLQ: (DLQ,),
}


def malformed(good: bytes) -> dict[str, bytes]:
    return {"not json": b"not json at all", "truncated": good[: len(good) // 2], "json array": b"[1, 2]",
            "nested 100,000 deep": nested(100_000), "invalid utf-8": b"\xff\xfe{" + good[1:], "empty": b"",
            "an event encoded twice": json.dumps(good.decode()).encode()}


def event(event_type: EventType, tenant: str, payload: dict[str, Any], **metadata: Any) -> ArgusEvent:
    return ArgusEvent.new(event_type.value, source="hostile-test", tenant_id=tenant, payload=payload,
                          metadata=metadata)


def with_details(base: ArgusEvent, **details: Any) -> ArgusEvent:
    payload = {**base.payload, "failure_details": {**base.payload["failure_details"], **details}}
    return base.model_copy(update={"payload": payload})


def bad_letters(prefix: str, tenant: str) -> list[ArgusEvent]:
    """Dead letters that crash-looped the DLQ job: each must end in review, never be republished."""
    def letter(**changes: Any) -> ArgusEvent:
        payload = {"original_topic": f"{prefix}.test.failed", "original_partition": 0, "original_offset": 7,
                   "original_key": "k", "original_value": "{}", "original_headers": {}, "error_type": "TimeoutError",
                   "error_message": "timed out", "retryable": True}
        metadata = {"retry_count": 1, "max_retries": 3}
        for name, value in changes.items():
            (metadata if name in metadata else payload)[name] = value
        return event(EventType.DLQ, tenant, payload, **{k: v for k, v in metadata.items()})
    return [letter(retry_count="abc"), letter(retry_count=10**30), letter(original_headers=["a", "b"]),
            letter(error_type=["TimeoutError"]), letter(original_topic=f"{prefix}.no.such.topic")]


def restarts(settings: Any, job_id: str) -> tuple[int, list]:
    metric = cluster._rest(settings, "GET", f"/jobs/{job_id}/metrics?get=numRestarts")
    history = cluster._rest(settings, "GET", f"/jobs/{job_id}/exceptions").get("exceptionHistory", {})
    return int(metric[0]["value"]) if metric else -1, history.get("entries", [])


def test_hostile_records_are_reviewed_once_and_no_job_restarts(stack, settings, review, receiver,  # noqa: ANN001, F811
                                                               tmp_path: Path, monkeypatch) -> None:
    prefix = settings.topic_prefix
    tenant = f"{prefix}-acme"
    rng = random.Random(11)
    good = failed_event(rng, tenant=tenant, suite="suite-0", test="t0", signature_id=0, run=1)
    sender = producer(settings)
    # (topic, partition, offset) -> the jobs that read it. A review row's id is its record's position and
    # attempt, so the letters of several jobs about one record are one row (the first job's source).
    expected: dict[tuple[str, int, int], tuple[str, ...]] = {}
    sent = 0

    def send(event_type: EventType, value: bytes) -> None:
        nonlocal sent
        topic = topic_for(event_type, prefix)
        meta = sender.send(topic, key=b"hostile", value=value, headers=[("tenant_id", tenant.encode())]).get(30)
        if READERS[event_type]:
            expected[(topic, meta.partition, meta.offset)] = READERS[event_type]
        sent += 1

    for event_type in READERS:
        for value in malformed(good.to_json().encode()).values():
            send(event_type, value)
    # Crash loops of the healing and knowledge-graph jobs: data errors, to the DLQ.
    send(EventType.HEALING_COMPLETED, event(EventType.HEALING_COMPLETED, tenant, {
        "test_id": "t0", "signature": "v1:abc", "status": "healed", "source": "healer", "fix": None}).to_bytes())
    send(EventType.HEALING_REQUESTED, event(EventType.HEALING_REQUESTED, tenant, {
        "test_id": ["t0"], "signature": {"a": 1}, "failure_details": "none"}).to_bytes())
    for path in ("../outside", "x" * 5000, "with\x00nul"):
        send(EventType.CODEBASE_INGESTED, event(EventType.CODEBASE_INGESTED, tenant, {
            "project_id": PROJECT, "codebase_path": path}).to_bytes())
    send(EventType.TEST_CREATED, _deep_test_created(tenant, 5000))
    letters = bad_letters(prefix, tenant)
    for letter in letters:  # the review row of a readable letter is the letter's own (by its id)
        sender.send(topic_for(EventType.DLQ, prefix), key=b"hostile", value=letter.to_bytes()).get(30)
        sent += 1
    # Valid events that were time bombs: they are counted, not dead-lettered.
    messages = ["?" + "http://" * 20_000, '?://"' + "1" * 140_000, "\\Temp\\ " + "C:\\" * 47_000]
    bombs = [with_details(failed_event(rng, tenant=tenant, suite="suite-0", test=f"bomb-{n}", signature_id=0, run=n),
                          message=message) for n, message in enumerate(messages)]
    css = with_details(failed_event(rng, tenant=tenant, suite="suite-0", test="css-bomb", signature_id=0, run=9),
                       selector="p div div div div div div div div button",
                       dom_snapshot="<html><body>" + "<div>" * 40 + "<p>x</p>" + "</div>" * 40 + "</body></html>")
    root = tmp_path / "codebases"
    shutil.copytree(sample.SAMPLE, root / tenant / PROJECT)  # a tenant's codebases: under its own folder
    os.mkfifo(root / tenant / PROJECT / "pipe.py")  # reading it blocked the extractor forever
    with EventGateway(settings) as gateway:
        gateway.publish_many([*bombs, css, event(EventType.CODEBASE_INGESTED, tenant, {
            "project_id": PROJECT, "codebase_path": PROJECT, "commit_sha": "c1"})])
    sender.flush()
    assert sent >= 60

    jobs = [submit_failures(stack, settings), submit_dlq(stack, settings, review, receiver, monkeypatch),
            submit_kg(stack, settings, root), _submit_healing(stack, settings)]
    try:
        letter_ids = {letter.event_id for letter in letters}
        total = len(expected) + len(letter_ids)
        try:
            wait_for(lambda: (len(review.find(ReviewFilter())) >= total, len(review.find(ReviewFilter()))),
                     timeout_s=240, what="every bad record in review")
        except AssertionError:
            pass  # the comparison below says which are missing
        time.sleep(5)
        rows = review.find(ReviewFilter())
        found = Counter((r.original_topic, r.original_partition, r.original_offset)
                        for r in rows if r.id not in letter_ids)
        missing, extra = set(expected) - set(found), set(found) - set(expected)
        assert not missing and not extra, (  # each bad record in review, nothing else
            f"missing {sorted(missing)[:12]}; extra: {[row_summary(r) for r in rows if position(r) in extra][:12]}; "
            f"restarts: {[restarts(settings, j) for j in jobs]}")
        assert set(found.values()) == {1}  # exactly once
        assert all(r.source in expected[(r.original_topic, r.original_partition, r.original_offset)]
                   for r in rows if r.id not in letter_ids)  # from a job that reads its topic
        assert {r.id for r in rows if r.id in letter_ids} == letter_ids
        assert all(r.status_note for r in rows if r.id in letter_ids)  # why each letter was not retried

        wait_for(lambda: (graph_totals(settings, tenant) == len(bombs) + 1, graph_totals(settings, tenant)),
                 timeout_s=120, what="the time bombs counted in the graph")
        later = failed_event(rng, tenant=f"{prefix}-later", suite="s", test="t", signature_id=1, run=99)
        published = time.monotonic()
        with EventGateway(settings) as gateway:
            gateway.publish(later)
        wait_for(lambda: (graph_totals(settings, later.tenant_id) == 1, None), timeout_s=60,
                 what="a good event after the hostile ones")
        print(f"good event in the graph {time.monotonic() - published:.1f}s after publishing")
        for job_id in jobs:
            assert restarts(settings, job_id) == (0, []), job_id
    finally:
        sender.close()
        for job_id in jobs:
            cluster.cancel(settings, job_id)


def position(row: Any) -> tuple[str, int, int]:
    return row.original_topic, row.original_partition, row.original_offset


def row_summary(row: Any) -> tuple:
    return (*position(row), row.source, row.error_type, row.error_message[:300])


def _deep_test_created(tenant: str, depth: int) -> bytes:
    body = event(EventType.TEST_CREATED, tenant, {"test_id": "t-deep", "test_name": "deep", "test_type": "e2e",
                                                  "project_id": PROJECT, "test_spec": None}).to_json()
    return body.replace('"test_spec": null', '"test_spec": ' + '{"a":' * depth + "1" + "}" * depth).encode()


def _submit_healing(stack: Any, settings: Any) -> str:
    job_id = cluster.submit(settings, "healing", stack_env=stack.layout.secrets_file, job_args=(
        "--topic-prefix", settings.topic_prefix, "--graph", settings.falkordb_graph,
        "--group-id", f"{settings.topic_prefix}-healing"))
    cluster.wait_running(settings, job_id)
    return job_id
