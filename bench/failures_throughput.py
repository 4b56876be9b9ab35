"""The failure job end to end: events/s from the topic into a correct FalkorDB graph, and latency.

    make up && .venv/bin/python -m bench.failures_throughput --events 100000

1. Throughput: N realistic `test.failed` events (~1 KB with stack traces, 5,000 distinct signatures, 50
   tenants, 6 partitions) are published first; the job then starts on them with a fresh consumer group,
   and the clock runs from the job's RUNNING state until the graph's counts add up to N. The graph is
   then checked exactly: every signature's count equals the number of events published for it.
2. Latency: with the job running, probe events (each its own signature) are published at a steady rate;
   a poller records when each appears in FalkorDB. p50/p99 of publish -> visible in the graph.
Runs on its own topic prefix and graph on the default stack; prints figures, asserts nothing timed.
"""

from __future__ import annotations

import argparse
import random
import threading
import time
import uuid
from collections import Counter

from argus_dev.samples import failed_event

from argus_streams.bus.admin import delete_prefixed_topics, ensure_topics
from argus_streams.bus.gateway import EventGateway
from argus_streams.failures.signature import compute
from argus_streams.flink import cluster
from argus_streams.settings import Settings
from argus_streams.stores.graphs import falkordb_client

SIGNATURES = 5000
TENANTS = 50


def workload(count: int, seed: int = 7) -> list:
    rng = random.Random(seed)
    events = []
    for i in range(count):
        sig = i % SIGNATURES
        events.append(failed_event(rng, tenant=f"tenant-{sig % TENANTS}", suite=f"suite-{i % 97}",
                                   test=f"t-{i % 1009}", signature_id=(sig % 6) * 1000 + sig // 6, run=i,
                                   pad_to=300))
    return events


def graph_total(settings: Settings) -> int:
    db = falkordb_client(settings.falkordb_url.get_secret_value(), asynchronous=False)
    try:
        if settings.falkordb_graph not in db.list_graphs():
            return 0
        result = db.select_graph(settings.falkordb_graph).ro_query("MATCH (f:Failure) RETURN sum(f.count)")
        return int(result.result_set[0][0] or 0)
    finally:
        db.connection.close()


def verify(settings: Settings, events: list) -> None:
    expected = Counter((e.tenant_id, compute(e.payload["failure_details"]).id) for e in events)
    db = falkordb_client(settings.falkordb_url.get_secret_value(), asynchronous=False)
    rows = db.select_graph(settings.falkordb_graph).ro_query(
        "MATCH (f:Failure) RETURN f.tenant_id, f.signature, f.count").result_set
    db.connection.close()
    found = {(r[0], r[1]): r[2] for r in rows}
    assert found == dict(expected), "graph does not match what was published"
    print(f"graph verified: {len(found)} (tenant, signature) nodes, counts exact")


class FirstSeen:
    """When each value a FalkorDB query returns was first seen (`.seen`), polled every 20 ms in a thread
    while the context is open: the graph side of a publish -> graph latency."""

    def __init__(self, settings: Settings, query: str, params: dict[str, object] | None = None):
        self.settings, self.query, self.params = settings, query, params or {}
        self.seen: dict[str, float] = {}
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)

    def __enter__(self) -> FirstSeen:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._done.set()
        self._thread.join()

    def wait_for(self, count: int, timeout_s: float = 60) -> None:
        deadline = time.monotonic() + timeout_s
        while len(self.seen) < count and time.monotonic() < deadline:
            time.sleep(0.1)

    def _poll(self) -> None:
        db = falkordb_client(self.settings.falkordb_url.get_secret_value(), asynchronous=False)
        graph = db.select_graph(self.settings.falkordb_graph)
        while not self._done.is_set():
            rows = graph.ro_query(self.query, self.params).result_set
            now = time.perf_counter()
            for (value,) in rows:
                self.seen.setdefault(value, now)
            time.sleep(0.02)
        db.connection.close()


def measure_latency(settings: Settings, gateway: EventGateway, probes: int, rate: float) -> list[float]:
    rng = random.Random(99)
    sent: dict[str, float] = {}
    with FirstSeen(settings, "MATCH (f:Failure {tenant_id: 'probe'}) RETURN f.sample_message") as graph:
        for i in range(probes):
            marker = f"probe {uuid.uuid4().hex}"
            event = failed_event(rng, tenant="probe", suite="probe", test=f"p{i}", signature_id=0, run=i)
            details = {**event.payload["failure_details"], "error_type": f"Probe{i}", "message": marker}
            event = event.model_copy(update={"payload": {**event.payload, "failure_details": details}})
            sent[marker] = time.perf_counter()
            gateway.publish(event)
            time.sleep(1 / rate)
        graph.wait_for(probes)
    return sorted(graph.seen[m] - sent[m] for m in sent if m in graph.seen)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--probes", type=int, default=200)
    parser.add_argument("--probe-rate", type=float, default=20.0, help="probe events per second")
    args = parser.parse_args()
    prefix = f"bench-{uuid.uuid4().hex[:8]}"
    settings = Settings.load().as_principal("admin").model_copy(
        update={"topic_prefix": prefix, "falkordb_graph": prefix})
    ensure_topics(settings)
    events = workload(args.events)
    size = sum(len(e.to_bytes()) for e in events) / len(events)
    started = time.perf_counter()
    with EventGateway(settings) as gateway:
        for start in range(0, len(events), 5000):
            gateway.publish_many(events[start:start + 5000])
    print(f"published {len(events)} events of {size:.0f} B in {time.perf_counter() - started:.1f}s")

    job_id = cluster.submit(settings, "failures", job_args=(
        "--topic-prefix", prefix, "--graph", prefix, "--group-id", f"{prefix}-failures"))
    try:
        cluster.wait_running(settings, job_id)
        running = time.perf_counter()
        while graph_total(settings) < len(events):
            time.sleep(0.25)
        elapsed = time.perf_counter() - running
        print(f"throughput: {len(events) / elapsed:,.0f} events/s ({len(events)} events in {elapsed:.1f}s, "
              "from RUNNING to the last graph write, FalkorDB + Neo4j)")
        verify(settings, events)
        with EventGateway(settings) as gateway:
            latencies = measure_latency(settings, gateway, args.probes, args.probe_rate)
        if latencies:
            p50 = latencies[len(latencies) // 2]
            p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]
            print(f"publish -> graph latency over {len(latencies)} probes at {args.probe_rate:.0f}/s: "
                  f"p50 {p50 * 1000:.0f} ms, p99 {p99 * 1000:.0f} ms (poll interval 20 ms)")
    finally:
        cluster.cancel(settings, job_id)
        delete_prefixed_topics(settings)


if __name__ == "__main__":
    main()
