"""Flat as state grows: the failure job's events/s and checkpoint size as distinct keys grow.

    make up && .venv/bin/python -m bench.state_growth            (about 20 minutes on 2 cores)

Each point publishes N `test.failed` events (the side-by-side workload's shape, ~1 KB, 50 tenants) on a topic
prefix of its own, with S distinct signatures and suites of T tests, then times the failure job as shipped
(FalkorDB + Neo4j) from RUNNING to the last graph write, verifies the graph exactly, waits for a checkpoint
that completed after the last write and prints its full and incremental size. The points: S = 5,000,
50,000 and 500,000 with suites of 100 tests; S = 5,000 with suites of 10 and of 5,000 tests. Every point
has its own tenants, so Neo4j (one graph for all) never sees a point's nodes before.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import time
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path

from argus_dev.samples import failed_event, failure_details
from argus_dev.stack.base import DEFAULT_STATE_DIR, REPO_ROOT, Ports, StackLayout
from argus_dev.stack.manager import Stack

from argus_streams.bus.admin import delete_prefixed_topics, ensure_topics
from argus_streams.bus.gateway import EventGateway
from argus_streams.contract.events import ArgusEvent
from argus_streams.flink import cluster
from argus_streams.settings import Settings
from bench.side_by_side import Bench, Phase, delete_graph, run_flink, wait_idle

TENANTS = 50
POINTS = ((5_000, 100), (50_000, 100), (500_000, 100), (5_000, 10), (5_000, 5_000))  # (signatures, tests a suite)


@dataclass
class Point:
    signatures: int
    suite_tests: int
    events: int
    rate: float | None = None
    peak_rss_mb: float | None = None
    checkpoint_mb: float | None = None  # the whole state the checkpoint covers
    checkpointed_mb: float | None = None  # what that (incremental) checkpoint wrote
    checkpoint_ms: int | None = None
    error: str = ""


def point_events(point: int, signatures: int, suite_tests: int, count: int) -> list[ArgusEvent]:
    """`count` failures over `signatures` root causes (each signature on one tenant), one suite a tenant of
    `suite_tests` tests; root cause s is failure_details(s % 6, s // 6), distinct for every s."""
    rng, events = random.Random(point), []
    for i in range(count):
        sig, tenant = i % signatures, f"sg{point}-{i % TENANTS}"
        event = failed_event(rng, tenant=tenant, suite="suite", test=f"t-{i % suite_tests}", signature_id=0,
                             run=i, pad_to=300)
        details = failure_details(sig % 6, sig // 6, rng, pad_to=300)
        events.append(event.model_copy(update={"payload": {**event.payload, "failure_details": details}}))
    return events


def checkpoint_after(settings: Settings, job_id: str, moment_ms: int, timeout_s: float = 180) -> dict:
    """The first checkpoint that completed after `moment_ms` (epoch ms): it holds every write before it."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        latest = cluster._rest(settings, "GET", f"/jobs/{job_id}/checkpoints").get("latest", {})
        completed = latest.get("completed") or {}
        if completed.get("latest_ack_timestamp", 0) > moment_ms:
            return completed
        time.sleep(1)
    raise TimeoutError(f"no checkpoint completed within {timeout_s:.0f}s")


def run_point(bench: Bench, index: int, point: Point) -> None:
    bench.events = point_events(index, point.signatures, point.suite_tests, point.events)
    prefix = f"sg-{uuid.uuid4().hex[:8]}"
    settings = bench.settings(prefix, prefix)
    ensure_topics(settings)
    try:
        with EventGateway(settings) as gateway:
            for start in range(0, len(bench.events), 5000):
                gateway.publish_many(bench.events[start:start + 5000])
        phase = Phase("flink", index)

        def measure_checkpoint(job_id: str) -> None:
            completed = checkpoint_after(settings, job_id, int(time.time() * 1000))
            point.checkpoint_mb = round(completed.get("state_size", 0) / 2**20, 1)
            point.checkpointed_mb = round(completed.get("checkpointed_size", 0) / 2**20, 1)
            point.checkpoint_ms = completed.get("end_to_end_duration")

        run_flink(bench, phase, settings, f"{prefix}-flink", before_cancel=measure_checkpoint)
        point.rate, point.peak_rss_mb, point.error = phase.rate, phase.peak_rss_mb, phase.error
    except Exception as exc:  # one point failing must not lose the others' figures
        point.error = f"{type(exc).__name__}: {exc}"
    finally:
        delete_graph(settings)
        delete_prefixed_topics(settings)


def table(points: list[Point]) -> str:
    head = (f"{'signatures':>10} {'suite tests':>11} {'events':>8} {'events/s':>9} {'RSS MB':>7} "
            f"{'checkpoint MB':>13} {'written MB':>10} {'ckpt ms':>8}")
    lines = [head, "-" * len(head)]
    for p in points:
        def cell(value: float | None, fmt: str) -> str:
            return "-" if value is None else format(value, fmt)
        lines.append(f"{p.signatures:>10,} {p.suite_tests:>11,} {p.events:>8,} {cell(p.rate, ',.0f'):>9} "
                     f"{cell(p.peak_rss_mb, '.0f'):>7} {cell(p.checkpoint_mb, '.1f'):>13} "
                     f"{cell(p.checkpointed_mb, '.1f'):>10} {cell(p.checkpoint_ms, 'd'):>8}"
                     + (f"  ({p.error})" if p.error else ""))
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=500_000, help="events per point (>= its signatures)")
    parser.add_argument("--points", default="", help="subset, e.g. '5000x100,500000x100'")
    parser.add_argument("--job-args", default="")
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--port-offset", type=int, default=0)
    parser.add_argument("--state-dir", type=Path, default=DEFAULT_STATE_DIR)
    args = parser.parse_args()
    chosen = [tuple(int(n) for n in p.split("x")) for p in args.points.split(",") if p] or list(POINTS)
    stack = Stack(StackLayout(state_dir=args.state_dir, ports=Ports().shifted(args.port_offset)))
    out_dir = REPO_ROOT / ".state" / "state-growth"
    bench = Bench(stack, stack.settings("admin"), [], probes=0, probe_rate=1, timeout_s=args.events / 20 + 300,
                  out_dir=out_dir, job_args=tuple(args.job_args.split()))
    points = [Point(s, t, max(args.events, s)) for s, t in chosen]
    for index, point in enumerate(points):
        wait_idle(bench.base, 1800, 0)
        print(f"point {index + 1}/{len(points)}: {point.signatures:,} signatures, suites of {point.suite_tests:,} "
              f"tests, {point.events:,} events ...", flush=True)
        run_point(bench, index, point)
        print(table([point]).splitlines()[-1], flush=True)
    rates = [p.rate for p in points if p.rate]
    print(f"\nstate growth: the failure job (FalkorDB + Neo4j), {os.cpu_count()} cores")
    print(table(points))
    if rates:
        print(f"slowest/fastest: {min(rates) / max(rates):.2f} (goal >= 0.5); median {statistics.median(rates):,.0f}/s")
    out = args.out or out_dir / f"results-{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"points": [asdict(p) for p in points], "cores": os.cpu_count()}, indent=2))
    print(f"results: {out}")


if __name__ == "__main__":
    main()
