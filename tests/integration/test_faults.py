"""Faults under load: a crashed TaskManager, a graph database away for 30 s, a broker restart.

After each, the graph, the DLQ and the review store hold exactly what a run without the fault holds.
These tests stop and start the test stack's servers, so they run last (tests/conftest.py orders them).
"""

from __future__ import annotations

import json
import random
import sys
import threading
import time
import traceback
from collections.abc import Callable

import pytest
from argus_dev import faults
from argus_dev.poison import poison_values
from argus_dev.samples import failed_event

from argus_streams.bus.breaker import BreakerState, CircuitBreaker
from argus_streams.bus.gateway import EventGateway, GatewayTimeouts
from argus_streams.contract.events import ArgusEvent
from argus_streams.dlq.review import ReviewFilter
from argus_streams.errors import ArgusStreamsError
from argus_streams.flink import cluster
from tests.integration.test_dlq_job import producer, receiver, review, submit_dlq  # noqa: F401 - fixtures
from tests.integration.test_failures_job import (
    assert_exact_graph,
    graph_totals,
    read_dlq,
    valid_stream,
    wait_for,
)
from tests.integration.test_failures_job import submit as submit_failures
from tests.integration.test_hostile_records import restarts

pytestmark = pytest.mark.faults
CHUNK = 25


class Load(threading.Thread):
    """Publishes events in chunks spread over `duration_s`, retrying a chunk the gateway refused (as a caller
    would), so that the fault happens while events keep arriving."""

    def __init__(self, settings, events: list[ArgusEvent], duration_s: float = 30.0,  # noqa: ANN001
                 gateway: EventGateway | None = None):
        super().__init__(daemon=True)
        self.events = events
        self.pause_s = duration_s / max(1, len(events) // CHUNK)
        self.gateway = gateway or EventGateway(settings)
        self.errors: list[str] = []
        self.last_errors: list[str] = []  # with their times and texts, for a failure's message
        self.breaker_states: set[BreakerState] = set()
        self.done = threading.Event()

    def stuck(self) -> str:
        """Where the publisher is and what it last saw: what a failure's message needs to tell a hang from a
        loop of refusals."""
        frame = sys._current_frames().get(self.ident or -1)
        where = "".join(traceback.format_stack(frame)[-6:]) if frame else "(not running)"
        return (f"{len(self.errors)} errors, breaker {self.gateway.breaker.state.value}, last: {self.last_errors}; "
                f"it is at:\n{where}")

    def run(self) -> None:
        with self.gateway:
            for start in range(0, len(self.events), CHUNK):
                chunk = self.events[start:start + CHUNK]
                while True:
                    self.breaker_states.add(self.gateway.breaker.state)
                    try:
                        self.gateway.publish_many(chunk)  # a retried chunk may duplicate: the jobs dedupe ids
                        break
                    except ArgusStreamsError as exc:
                        self.errors.append(type(exc).__name__)
                        self.last_errors = [*self.last_errors[-4:], f"{time.strftime('%X')} {exc!r}"[:400]]
                        self.breaker_states.add(self.gateway.breaker.state)
                        time.sleep(1)
                time.sleep(self.pause_s)
        self.done.set()


def wait_for_graph(settings, events: list[ArgusEvent], tenants: list[str], timeout_s: float = 300) -> None:  # noqa: ANN001
    expected = sum(1 for e in events if e.event_type.value == "test.failed")
    for store in ("falkordb", "neo4j"):
        wait_for(lambda store=store: (sum(graph_totals(settings, t, store) for t in tenants) == expected,
                                      [graph_totals(settings, t, store) for t in tenants]),
                 timeout_s=timeout_s, what=f"graph totals in {store}")
    assert_exact_graph(settings, events, tenants)


def under_load(settings, events: list[ArgusEvent], fault: Callable[[], None], **load_args) -> Load:  # noqa: ANN001, ANN003
    """Publish a third, inject `fault` while the rest is being published, and wait for the publisher."""
    head = len(events) // 3
    with EventGateway(settings) as gateway:
        gateway.publish_many(events[:head])
    load = Load(settings, events[head:], **load_args)
    load.start()
    time.sleep(2)
    fault()
    assert load.done.wait(timeout=300), f"the publisher never finished: {load.stuck()}"
    return load


def test_taskmanager_crash_loses_and_duplicates_nothing(stack, settings, review, receiver,  # noqa: ANN001, F811
                                                        monkeypatch) -> None:
    prefix = settings.topic_prefix
    tenants = [f"{prefix}-acme", f"{prefix}-globex"]
    events = valid_stream(tenants, per_tenant=150)
    poison = list(poison_values(failed_event(random.Random(8), tenant=tenants[0], suite="suite-0", test="t0",
                                             signature_id=0, run=9_999)).values())[:8]
    failures_job = submit_failures(stack, settings)
    dlq_job = submit_dlq(stack, settings, review, receiver, monkeypatch)
    try:
        cluster.wait_checkpoints(settings, failures_job)
        sender = producer(settings)
        for n, value in enumerate(poison):
            sender.send(f"{prefix}.test.failed", key=f"bad-{n}".encode(), value=value,
                        headers=[("tenant_id", tenants[0].encode())])
        sender.flush()
        sender.close()
        crash: dict[str, float] = {}

        def crash_taskmanager() -> None:
            cluster.wait_checkpoints(settings, failures_job)  # progress to lose, a checkpoint to return to
            crash["at_ms"] = time.time() * 1000
            crash["pid"] = faults.kill_taskmanager(stack)

        under_load(settings, events, crash_taskmanager)
        recovery_s = faults.wait_restored(settings, failures_job, since_ms=int(crash["at_ms"]))
        faults.wait_restored(settings, dlq_job, since_ms=int(crash["at_ms"]))
        print(f"TaskManager {crash['pid']} killed; failure job running again after {recovery_s:.1f}s")
        wait_for(lambda: (not faults.orphaned_workers(stack), faults.orphaned_workers(stack)), timeout_s=30,
                 what="the dead TaskManager's Python workers to be cleaned up by the watchdog")

        wait_for_graph(settings, events, tenants)
        letters = read_dlq(settings, expected=len(poison), job_id=failures_job)
        assert sorted(json.loads(r.value)["payload"]["original_key"] for r in letters) == \
            sorted(f"bad-{n}" for n in range(len(poison)))  # each once: the DLQ sink is transactional
        wait_for(lambda: (len(review.find(ReviewFilter())) == len(poison), len(review.find(ReviewFilter()))),
                 timeout_s=120, what="the review rows")
        time.sleep(3)
        assert len(review.find(ReviewFilter())) == len(poison)
        alerted = {json.loads(body)["id"] for _, body in receiver.requests}
        assert alerted == {row.id for row in review.find(ReviewFilter())}  # at least once each, deduped by id
    finally:
        cluster.cancel(settings, dlq_job)
        cluster.cancel(settings, failures_job)


@pytest.mark.parametrize("database", ["falkordb", "neo4j"])
def test_graph_database_away_for_30s_backpressures_and_loses_nothing(stack, settings, database: str) -> None:  # noqa: ANN001
    prefix = settings.topic_prefix
    tenants = [f"{prefix}-acme"]
    events = valid_stream(tenants, per_tenant=200)
    failures_job = submit_failures(stack, settings)
    try:
        cluster.wait_checkpoints(settings, failures_job)
        outage: dict[str, faults.Outage] = {}

        def database_away() -> None:
            with faults.outage(stack, database, down_s=30) as record:
                outage["record"] = record

        under_load(settings, events, database_away, duration_s=40)
        record = outage["record"]
        print(f"{database} was away {record.down_s:.1f}s ({record.probes} probes refused)")
        # The outage happened: the server refused every connection for the whole window.
        assert record.down_s >= 30 and record.probes >= 50 and record.answered == 0, record
        wait_for_graph(settings, events, tenants)
        dead = read_dlq(settings, expected=0, job_id=failures_job, timeout_s=5)
        assert dead == []  # no good event was dead-lettered
        # The writes were retried inside the sink (backpressure), not failed over: no restart, no exception.
        assert restarts(settings, failures_job) == (0, [])
        cluster.wait_running(settings, failures_job, timeout_s=30)
    finally:
        cluster.cancel(settings, failures_job)


def test_broker_restart_under_load_loses_nothing_and_the_breaker_opens_and_closes(stack, settings) -> None:  # noqa: ANN001
    prefix = settings.topic_prefix
    tenants = [f"{prefix}-acme"]
    events = valid_stream(tenants, per_tenant=200, seed=11)
    failures_job = submit_failures(stack, settings)
    # Short timeouts and a low threshold, so that a 15 s outage is several failed publishes: the breaker opens.
    fast = GatewayTimeouts(request_ms=2_000, delivery_ms=3_000, max_block_ms=2_000)
    breaker = CircuitBreaker("fault-test", failure_threshold=2, reset_timeout_s=3)
    try:
        cluster.wait_checkpoints(settings, failures_job)
        restart = {"at_ms": 0.0}

        def broker_restart() -> None:
            restart["at_ms"] = time.time() * 1000
            with faults.outage(stack, "kafka", down_s=15):
                pass

        gateway = EventGateway(settings, timeouts=fast, breaker=breaker)
        load = under_load(settings, events, broker_restart, gateway=gateway)
        assert BreakerState.OPEN in load.breaker_states, load.breaker_states  # it opened during the outage
        assert gateway.breaker.state is BreakerState.CLOSED  # and closed once the broker was back
        assert load.errors, "the outage was never seen by the publisher"
        # The job may ride the restart out (the source reconnects) or fail over to its checkpoint: either way
        # it runs again and the graph is exact.
        cluster.wait_running(settings, failures_job, timeout_s=300)
        restored = cluster.restored_checkpoint(settings, failures_job)
        print(f"broker restart: the job {'restored a checkpoint' if restored else 'kept running'}")
        wait_for_graph(settings, events, tenants)
        assert read_dlq(settings, expected=0, job_id=failures_job, timeout_s=5) == []
    finally:
        cluster.cancel(settings, failures_job)
