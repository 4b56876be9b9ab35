"""The README's main command: stack up, jobs running, sample events through, the graph and DLQ shown."""

from __future__ import annotations

import json
import random
import time
import uuid
from datetime import UTC, datetime
from typing import cast

import redis
from kafka import KafkaProducer

from argus_dev.codegraph_demo import run_flow as run_knowledge_graph_flow
from argus_dev.samples import PAGE_AFTER_UI_CHANGE, demo_stream, executed_event, failed_event, locator_failure
from argus_dev.stack.manager import Stack
from argus_streams.bus.gateway import EventGateway
from argus_streams.bus.io import consumer, read_records
from argus_streams.bus.principals import ADMIN
from argus_streams.contract.events import ArgusEvent
from argus_streams.contract.topics import catalog
from argus_streams.dlq.review import FailedEvent, ReviewFilter, ReviewStore
from argus_streams.errors import EventValidationError
from argus_streams.failures.queries import failure_graph
from argus_streams.flink import cluster
from argus_streams.healing.decisions import examine_failure
from argus_streams.healing.store import decode_fix
from argus_streams.healing.watch import HealingWatch
from argus_streams.settings import Settings

TENANTS = ("acme", "globex")
FAILURES_PER_TENANT = 120
GRAPH_TIMEOUT_S = 180
REVIEW_TIMEOUT_S = 60
CACHE_TIMEOUT_S = 30


def ensure_jobs(settings: Settings, stack: Stack) -> None:
    """Submit every job that is not running on the session cluster, resuming its last retained checkpoint.

    A stack that was stopped (`make down`) kept its jobs' last checkpoints: resuming from them keeps the
    keyed state (counts, histories), as a production upgrade resumes from a savepoint.
    """
    running = {job.name for job in cluster.list_jobs(settings) if job.state == "RUNNING"}
    submitted_file = stack.layout.run_dir / "demo-jobs.json"
    submitted = json.loads(submitted_file.read_text()) if submitted_file.is_file() else {}
    for name in cluster.JOBS:
        if f"argus-{name}" in running:
            print(f"job {name}: already running")
            continue
        resume = latest_retained_checkpoint(stack, submitted.get(name))
        try:
            job_id = cluster.submit(settings, name, stack_env=stack.layout.secrets_file, from_path=resume)
        except cluster.JobError as exc:
            if resume is None:
                raise
            print(f"job {name}: its last checkpoint does not fit this version of the job ({exc}); starting fresh")
            resume = None
            job_id = cluster.submit(settings, name, stack_env=stack.layout.secrets_file)
        cluster.wait_running(settings, job_id)
        submitted[name] = job_id
        submitted_file.write_text(json.dumps(submitted))
        origin = f", resumed from {resume}" if resume else ""
        print(f"job {name}: running as {job_id}{origin}  ({settings.flink_rest_url}/#/job/running/{job_id}/overview)")


def latest_retained_checkpoint(stack: Stack, job_id: str | None) -> str | None:
    """The newest complete checkpoint (`chk-N/_metadata`) a job of this stack left behind, if any."""
    if not job_id:
        return None
    folder = stack.layout.data_dir("flink") / "checkpoints" / job_id
    complete = [chk for chk in folder.glob("chk-*") if (chk / "_metadata").is_file()]
    if not complete:
        return None
    return str(max(complete, key=lambda chk: int(chk.name.split("-", 1)[1])))


READ_BACK_TIMEOUT_S = 60.0


def publish_and_read_back(settings: Settings) -> bool:
    events = demo_stream()
    wanted = {event.event_id for event in events}
    started = time.perf_counter()
    with EventGateway(settings) as gateway:
        gateway.publish_many(events)
    print(f"\npublished {len(events)} sample events in {time.perf_counter() - started:.2f}s "
          "(acks=all, idempotent, gzip)")
    # Read until every id is back, not for a fixed time: a consumer's first fetch on a cluster that is still
    # starting its jobs took longer than 8 s here (the demo failed on a fresh clone with nothing read back).
    seen: dict[str, set[str]] = {}  # distinct ids: the sample is the same each run, earlier runs' copies too
    found: set[str] = set()
    deadline = time.monotonic() + READ_BACK_TIMEOUT_S
    reader = consumer(settings, [spec.name for spec in catalog(settings.topic_prefix)])
    try:
        while found != wanted and time.monotonic() < deadline:
            for batch in reader.poll(timeout_ms=500).values():
                for record in batch:
                    try:
                        event_id = ArgusEvent.from_json(record.value).event_id
                    except EventValidationError:
                        continue  # the malformed records an earlier demo run published on purpose
                    if event_id in wanted:
                        seen.setdefault(record.topic, set()).add(event_id)
                        found.add(event_id)
    finally:
        reader.close()
    for topic, ids in sorted(seen.items()):
        print(f"  read back {len(ids)} on {topic}")
    if found != wanted:
        print(f"  read back {len(found)} of {len(wanted)} within {READ_BACK_TIMEOUT_S:.0f} s")
    return found == wanted


def counted(settings: Settings, tests: set[str]) -> int:
    """The failures the graph counted for these tests: this run's own events, whatever else (the sample
    stream, earlier runs, a replay) the failure job counts at the same time."""
    return sum(edge["count"] for tenant in TENANTS for edge in failure_graph(settings, tenant)["edges"]
               if edge["test"] in tests)


def run_failure_flow(settings: Settings) -> bool:
    """Publish realistic failures (and two bad records), wait for the graph, print what it holds."""
    rng = random.Random(time.time_ns())
    # This run's tests: a failure is counted on its (tenant, test) edge, whichever suite it came from.
    tag = f"{rng.getrandbits(32):08x}"
    tests = {f"t-{tag}-{n}" for n in range(6)}
    events = []
    for tenant in TENANTS:
        for i in range(FAILURES_PER_TENANT):
            run = rng.randint(0, 10**6)
            events.append(failed_event(rng, tenant=tenant, suite=f"checkout-{i % 2}", test=f"t-{tag}-{i % 6}",
                                       signature_id=(i % 4) * 1000 + i % 2, run=run))
            if i % 3 == 0:
                events.append(executed_event(rng, tenant=tenant, suite=f"checkout-{i % 2}",
                                             test=f"t-{tag}-{i % 6}", run=run, status="passed"))
    with EventGateway(settings) as gateway:
        gateway.publish_many(events)
    published_at = datetime.now(UTC)
    producer = KafkaProducer(**settings.kafka_client_config())
    for bad in (b"{truncated json", b'{"event_type": "test.failed", "tenant_id": "acme"}'):
        producer.send(f"{settings.topic_prefix}.test.failed", key=b"demo-bad", value=bad,
                      headers=[("tenant_id", b"acme")])
    producer.close()
    published = sum(1 for e in events if e.event_type.value == "test.failed")
    print(f"\npublished {published} failures and {len(events) - published} passes for {', '.join(TENANTS)}, "
          "plus 2 malformed records")
    deadline = time.monotonic() + GRAPH_TIMEOUT_S
    while counted(settings, tests) < published and time.monotonic() < deadline:
        time.sleep(1)
    found = counted(settings, tests)
    print(f"failure graph: {found} of this run's failures counted (expected {published}; tests "
          f"t-{tag}-0..5)")
    for tenant in TENANTS:
        graph = failure_graph(settings, tenant)
        print(f"\n  tenant {tenant}: {len(graph['failures'])} signatures, "
              f"{sum(f['count'] for f in graph['failures'])} failures in total")
        for failure in sorted(graph["failures"], key=lambda f: -f["count"])[:4]:
            print(f"    {failure['count']:>5}  {failure['error_type']:<30} {failure['sample_message'][:70]}")
        flaky = sorted(graph["tests"], key=lambda t: -(t["flakiness"] or 0))[:3]
        print("    flakiest tests: " + ", ".join(f"{t['test']} ({t['flakiness']:.2f})" for t in flaky))
    letters = [r for r in read_records(settings, [f"{settings.topic_prefix}.dlq"], expected=10**9, timeout_s=15)
               if r.key == b"demo-bad"]
    print(f"\nDLQ ({settings.topic_prefix}.dlq): {len(letters)} dead letters from demo runs so far, e.g.:")
    for record in letters[-2:]:
        letter = ArgusEvent.from_json(record.value)
        print(f"    {letter.payload['error_type']}: {letter.payload['error_message'][:90]}")
    reviewed = wait_for_review(settings, since=published_at)
    print(f"review store (the DLQ job; data errors are not retried): {len(reviewed)} of this run's 2 bad records, "
          "see `argus-streams dlq list`")
    for row in reviewed:
        print(f"    {row.id}  {row.status}  {row.original_topic} {row.original_partition}/{row.original_offset}  "
              f"{row.error_type}")
    return found == published and len(reviewed) == 2


def wait_for_review(settings: Settings, since: datetime) -> list[FailedEvent]:
    """This run's bad records in the review store (the DLQ job writes them a few seconds after the DLQ)."""
    deadline = time.monotonic() + REVIEW_TIMEOUT_S
    rows: list[FailedEvent] = []
    with ReviewStore.from_settings(settings) as store:
        store.ensure_schema()  # idempotent; the job creates it too, with its first row
        while time.monotonic() < deadline:
            rows = [r for r in store.find(ReviewFilter(since=since)) if r.original_key == "demo-bad"]
            if len(rows) >= 2:
                break
            time.sleep(1)
    return rows


def wait_cached(settings: Settings, failure: ArgusEvent) -> float | None:
    """Seconds until the healed fix of this failure is in the fix cache (the job caches it after the answer
    comes back to it through healing.completed), or None."""
    examined = examine_failure(failure)
    if isinstance(examined, str):  # not healable: nothing is cached
        return None
    cache = redis.Redis.from_url(settings.cache_url.get_secret_value())
    started, deadline = time.monotonic(), time.monotonic() + CACHE_TIMEOUT_S
    try:
        while time.monotonic() < deadline:
            if decode_fix(cast(dict[bytes, bytes], cache.hgetall(examined.key))) is not None:
                return time.monotonic() - started
            time.sleep(0.05)
    finally:
        cache.close()
    return None


def run_healing_flow(settings: Settings) -> bool:
    """A UI change broke a selector: the first failure is healed, the second is answered from the cache."""
    watch = HealingWatch(settings)
    tenant, test = f"shop-{uuid.uuid4().hex[:6]}", "t-place-order"  # a new tenant: its fix cache starts empty
    sources = []
    try:
        with EventGateway(settings) as gateway:
            for attempt in (1, 2):
                failure = locator_failure(tenant, test, "#place-order", PAGE_AFTER_UI_CHANGE, seed=attempt)
                started = time.perf_counter()
                gateway.publish(failure)
                arrived, answer = watch.answer(failure.correlation_id)
                payload = answer["payload"]
                sources.append(payload["source"])
                fix = payload.get("fix") or {}
                print(f"  failure {attempt} of {tenant}/{test} ('#place-order' not found): {payload['status']} by "
                      f"{payload['source']} -> {fix.get('selector')} (confidence {fix.get('confidence', 0):.2f}) "
                      f"in {(arrived - started) * 1000:.0f} ms")
                if attempt == 1 and payload["status"] == "healed":
                    cached_in = wait_cached(settings, failure)
                    print(f"  fix cached {cached_in * 1000:.0f} ms after the answer (the job reads its own "
                          "healing.completed back)" if cached_in is not None else
                          f"  fix not in the cache within {CACHE_TIMEOUT_S} s")
    finally:
        watch.close()
    return sources == ["healer", "cache"]


def run_demo(stack: Stack) -> int:
    stack.up()
    settings = stack.settings(ADMIN)  # the demo plays every service, the jobs' outputs read back included
    ensure_jobs(settings, stack)
    ok = publish_and_read_back(settings)
    ok = run_failure_flow(settings) and ok
    print("\nself-healing (cache miss, heal, then cache hit):")
    ok = run_healing_flow(settings) and ok
    print("\nknowledge graph (a codebase -> the code graph; failures linked to the functions in their stack traces):")
    ok = run_knowledge_graph_flow(settings) and ok
    print(f"\nFlink web UI: {settings.flink_rest_url}  (jobs keep running; `make down` stops the stack)")
    return 0 if ok else 1
