"""Side by side: the failure job against the seed's consumer design, a Quix Streams peer and the limits.

    make bench-compare          (or: .venv/bin/python -m bench.side_by_side --events 20000 --runs 3)

Each run publishes N `test.failed` events (failures_throughput's workload: ~1 KB, 5,000 signatures, 50
tenants, 6 partitions) once on a topic prefix of its own; then, one after the other on the same broker and
FalkorDB, each contender reads that pre-published topic with its own consumer group into its own empty
graph: the limits (read + JSON-parse, no writes; the graph's UNWIND batches, no Kafka), the seed's
consumer loop, the failure job on the Flink cluster (as shipped: it writes Neo4j too) and Quix Streams.
Events/s run from the contender's start (the Flink job: from RUNNING) to the last graph write; the graph
is then verified exactly (every signature's count) or the figure is not reported. Probe events published
to the running contender give p50/p99 publish -> graph. Later contenders of a run also read the earlier
ones' probes; they are counted in their events and their verification.
`--port-offset 20000 --state-dir .state/test-stack-20000` aims it at another local stack.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from argus_dev.samples import failed_event
from argus_dev.stack.base import DEFAULT_STATE_DIR, REPO_ROOT, Ports, StackLayout
from argus_dev.stack.manager import Stack

from argus_streams.bus.admin import admin_client, delete_prefixed_topics, ensure_topics
from argus_streams.bus.gateway import EventGateway
from argus_streams.contract.events import ArgusEvent
from argus_streams.failures.logic import SignatureStats, TestHistory, TestRun, parse_run
from argus_streams.failures.signature import compute
from argus_streams.flink import cluster
from argus_streams.settings import Settings
from argus_streams.stores.graphs import falkordb_client
from bench import procstats
from bench.chart import write_chart
from bench.contenders import ensure_indexes, write_plan
from bench.failures_throughput import FirstSeen, graph_total, verify, workload

CONTENDERS = ("read-confluent", "read-kafka-python", "bulk-unwind", "seed", "flink", "quix")
GRAPH_WRITERS = ("seed", "flink", "quix")
BULK_BATCH = 1000
POLL_S = 0.25
POLL_COST_RATIO = 20  # wait_graph sleeps at least this many times its scan's duration


@dataclass
class Phase:
    """One contender in one run."""

    contender: str
    run: int
    events: int = 0
    elapsed_s: float | None = None
    verified: bool = False
    p50_ms: float | None = None
    p99_ms: float | None = None
    peak_rss_mb: float | None = None
    cpu_s: float | None = None
    falkordb_cpu_s: float | None = None
    startup_s: float | None = None
    jvm_cpu_s: float | None = None  # flink: the TaskManager JVM's share of cpu_s (the rest: Python workers)
    load_1m: float = 0.0
    prefix: int = 0  # timed on the workload's first `prefix` events only (0: all of them)
    background: dict = field(default_factory=dict)  # the steady load its probes ran under, if any
    error: str = ""
    profile: dict = field(default_factory=dict)

    @property
    def rate(self) -> float | None:
        return self.events / self.elapsed_s if self.verified and self.elapsed_s else None


@dataclass
class Bench:
    stack: Stack
    base: Settings
    events: list[ArgusEvent]
    probes: int
    probe_rate: float
    timeout_s: float
    out_dir: Path
    published_probes: list[ArgusEvent] = field(default_factory=list)
    job_args: tuple[str, ...] = ()  # extra flags for the failure job (e.g. --parallelism 1)
    seed_prefix: int = 0  # the seed's loop reads only this many events (0: all)
    background_rate: float = 0.0  # events/s published to the failure job while its probes run (0: none)

    def settings(self, prefix: str, graph: str) -> Settings:
        return self.base.model_copy(update={"topic_prefix": prefix, "falkordb_graph": graph})

    def falkordb(self) -> list:
        port = urlsplit(self.base.falkordb_url.get_secret_value()).port or 6379
        return procstats.server_on_port("redis-server", port)


# Probes: publish -> visible in the graph -----------------------------------------------------------------
def probe_events(tenant: str, count: int) -> list[ArgusEvent]:
    """One signature each (error type Probe<i>), on a tenant of their own."""
    rng, probes = random.Random(99), []
    for i in range(count):
        event = failed_event(rng, tenant=tenant, suite="probe", test=f"p{i}", signature_id=0, run=i)
        details = {**event.payload["failure_details"], "error_type": f"Probe{i}"}
        probes.append(event.model_copy(update={"payload": {**event.payload, "failure_details": details}}))
    return probes


def measure_latency(settings: Settings, probes: list[ArgusEvent], rate: float) -> list[float]:
    """Seconds from each probe's acknowledged publish to its Failure node in the graph (20 ms polling)."""
    sent: dict[str, float] = {}
    query = "MATCH (f:Failure {tenant_id: $t}) RETURN f.signature"
    with FirstSeen(settings, query, {"t": probes[0].tenant_id}) as graph:
        with EventGateway(settings) as gateway:
            for probe in probes:
                gateway.publish(probe)
                sent[compute(probe.payload["failure_details"]).id] = time.perf_counter()
                time.sleep(1 / rate)
        graph.wait_for(len(probes))
    return sorted(graph.seen[s] - sent[s] for s in sent if s in graph.seen)


def percentile_ms(values: list[float], q: float) -> float | None:
    """The q-quantile of sorted seconds, in whole milliseconds (None without values)."""
    return round(values[min(len(values) - 1, int(len(values) * q))] * 1000) if values else None


# Phases ------------------------------------------------------------------------------------------------
def wait_graph(settings: Settings, expected: int, timeout_s: float, alive: Callable[[], bool]) -> None:
    """Until the graph's counts add up to `expected`. The count is a scan of every Failure node, holding
    FalkorDB's read lock: polled at most a twentieth of the time it takes, so at 500,000 nodes (~60 ms a scan)
    the benchmark's own polling does not take a sixth of a core from the contender it measures."""
    deadline = time.monotonic() + timeout_s
    while True:
        started = time.monotonic()
        if graph_total(settings) >= expected:
            return
        if not alive():
            raise RuntimeError("the contender stopped before the graph was complete")
        if time.monotonic() > deadline:
            raise TimeoutError(f"graph incomplete after {timeout_s:.0f}s")
        time.sleep(max(POLL_S, POLL_COST_RATIO * (time.monotonic() - started)))


def check_graph(settings: Settings, expected_events: list[ArgusEvent], phase: Phase) -> None:
    try:
        verify(settings, expected_events)
        phase.verified = True
    except AssertionError as exc:
        phase.error = f"graph not exact: {exc}"


def contender_command(bench: Bench, name: str, settings: Settings, group: str, expect: int = 0) -> list[str]:
    return [sys.executable, "-m", "bench.contenders", name, "--stack-env", str(bench.stack.layout.secrets_file),
            "--prefix", settings.topic_prefix, "--graph", settings.falkordb_graph, "--group-id", group,
            "--expect", str(expect), "--quix-state-dir", str(bench.out_dir / f"quix-{group}")]


class BackgroundLoad(threading.Thread):
    """Failures of the workload's shape on tenants of their own (`bg-*`), published at `rate` per second in
    batches of a tenth of a second while the probes are measured: latency under a steady load."""

    def __init__(self, settings: Settings, rate: float, run_offset: int):
        super().__init__(daemon=True)
        self.settings, self.rate, self.run_offset = settings, rate, run_offset
        self.sent: list[ArgusEvent] = []
        self.stop = threading.Event()
        self.seconds = 0.0  # how long it published (sent / seconds: the rate it achieved)

    def run(self) -> None:
        rng, batch = random.Random(self.run_offset), max(1, round(self.rate / 10))
        with EventGateway(self.settings) as gateway:
            started = time.perf_counter()
            while not self.stop.is_set():
                i = len(self.sent)
                events = [failed_event(rng, tenant=f"bg-{n % 50}", suite=f"suite-{n % 97}", test=f"t-{n % 1009}",
                                       signature_id=n % 5000, run=self.run_offset + n, pad_to=300)
                          for n in range(i, i + batch)]
                gateway.publish_many(events)
                self.sent += events
                time.sleep(max(0.0, started + len(self.sent) / self.rate - time.perf_counter()))
            self.seconds = time.perf_counter() - started


def finish_probes(bench: Bench, settings: Settings, phase: Phase, shared_topic: bool = True) -> None:
    probes = probe_events(f"probe-{phase.contender}", bench.probes)
    load = None
    if bench.background_rate and phase.contender == "flink":
        load = BackgroundLoad(settings, bench.background_rate, run_offset=10_000_000 * phase.run)
        load.start()
        time.sleep(5)  # the load is steady before the first probe
    try:
        latencies = measure_latency(settings, probes, bench.probe_rate)
    finally:
        if load is not None:
            load.stop.set()
            load.join()
            phase.background = {"rate": bench.background_rate, "events": len(load.sent),
                                "seconds": round(load.seconds, 1)}
            bench.published_probes += load.sent  # on the topic: later contenders read (and verify) them too
    if shared_topic:  # later contenders read them too
        bench.published_probes += probes
    phase.p50_ms, phase.p99_ms = (percentile_ms(latencies, q) for q in (0.5, 0.99))


def run_process(bench: Bench, phase: Phase, settings: Settings, group: str,
                prefix_events: list[ArgusEvent] | None = None) -> None:
    """seed / quix / read-*: a process of its own, sampled with its children. With `prefix_events`, the
    contender reads a topic of its own holding only those (the seed's loop, whose cost per event is
    constant, on a prefix of the workload)."""
    events = bench.events if prefix_events is None else prefix_events
    probes = bench.published_probes if prefix_events is None else []
    expected = len(events) + len(probes)
    writes = phase.contender in GRAPH_WRITERS
    if writes:
        ensure_indexes(settings)
    db_sampler = procstats.TreeSampler(bench.falkordb, fresh=False)
    db_sampler.start()
    started = time.perf_counter()
    proc = subprocess.Popen(contender_command(bench, phase.contender, settings, group, expected),
                            stdout=subprocess.PIPE, text=True, cwd=REPO_ROOT)
    process = procstats.psutil.Process(proc.pid)
    sampler = procstats.TreeSampler(lambda: [process], fresh=True)
    sampler.start()
    try:
        if writes:
            wait_graph(settings, expected, bench.timeout_s, lambda: proc.poll() is None)
        else:
            out, _ = proc.communicate(timeout=bench.timeout_s)
            report = json.loads(out.strip().splitlines()[-1]) if proc.returncode == 0 else {}
            if report.get("records", 0) < expected:
                raise RuntimeError(f"reader exited {proc.returncode}")
        phase.elapsed_s = time.perf_counter() - started
        phase.peak_rss_mb, phase.cpu_s = sampler.stop()
        if not writes:  # the limit is the reading itself: its own clock, without the interpreter's start
            phase.startup_s = phase.elapsed_s - report["elapsed_s"]
            phase.elapsed_s, phase.cpu_s, phase.peak_rss_mb = (report[k] for k in ("elapsed_s", "cpu_s", "peak_rss_mb"))
        phase.falkordb_cpu_s = db_sampler.stop()[1]
        phase.events = expected
        if writes:
            check_graph(settings, events + probes, phase)
            finish_probes(bench, settings, phase, shared_topic=prefix_events is None)
        else:
            phase.verified = True  # every record read and parsed; nothing to verify in a graph
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
        for left in (sampler, db_sampler):
            if left.is_alive():
                left.stop()


def run_flink(bench: Bench, phase: Phase, settings: Settings, group: str, profile: bool = False,
              before_cancel: Callable[[str], None] | None = None) -> None:
    """The failure job as shipped (FalkorDB + Neo4j), submitted with its own graph and group;
    `before_cancel(job_id)` runs once the graph is complete and verified, while the job still runs."""
    expected = len(bench.events) + len(bench.published_probes)
    state_dir = bench.stack.layout.state_dir
    sampler = procstats.TreeSampler(lambda: procstats.taskmanagers(state_dir), fresh=False)
    db_sampler = procstats.TreeSampler(bench.falkordb, fresh=False)
    sampler.start()
    db_sampler.start()
    submitted = time.perf_counter()
    job_id = cluster.submit(settings, "failures", stack_env=bench.stack.layout.secrets_file, job_args=(
        "--topic-prefix", settings.topic_prefix, "--graph", settings.falkordb_graph, "--group-id", group,
        *bench.job_args))
    spies: list = []
    try:
        cluster.wait_running(settings, job_id)
        running = time.perf_counter()
        phase.startup_s = running - submitted
        if profile:
            pids = [p.pid for p in procstats.python_workers(state_dir)]
            spies = procstats.start_py_spy(pids, bench.out_dir / f"profile-{group}")
        wait_graph(settings, expected, bench.timeout_s, lambda: job_alive(settings, job_id))
        phase.elapsed_s = time.perf_counter() - running
        if spies:
            phase.profile = summarise_profile(procstats.stop_py_spy(spies))
        phase.peak_rss_mb, phase.cpu_s = sampler.stop()
        phase.jvm_cpu_s = sampler.roots_cpu()
        phase.falkordb_cpu_s = db_sampler.stop()[1]
        phase.events = expected
        check_graph(settings, bench.events + bench.published_probes[:expected - len(bench.events)], phase)
        if not profile and bench.probes:
            finish_probes(bench, settings, phase)
        if before_cancel is not None:
            before_cancel(job_id)
    finally:
        if spies:
            procstats.stop_py_spy(spies)
        cluster.cancel(settings, job_id)
        for left in (sampler, db_sampler):
            if left.is_alive():
                left.stop()


def job_alive(settings: Settings, job_id: str) -> bool:
    return any(job.id == job_id and job.state not in ("FAILED", "CANCELED", "FINISHED")
               for job in cluster.list_jobs(settings))


def summarise_profile(paths: list[Path]) -> dict:
    lines = [line for path in paths for line in path.read_text().splitlines()]
    return procstats.hot_frames(lines)


def bulk_rows(events: list[ArgusEvent]) -> list[dict]:
    """The upsert rows the failure job would emit for `events`, computed without timing (no Kafka)."""
    histories: dict[tuple[str, str], TestHistory] = {}  # per (tenant + suite, test), as the job keys it
    stats: dict[str, SignatureStats] = {}
    rows = []
    for event in events:
        run: TestRun = parse_run(event.to_bytes())
        history = histories.setdefault((run.suite_key, run.test_id), TestHistory())
        history.record(run)
        rows.append(history.upsert(run))
        signature = stats.setdefault(run.signature_key, SignatureStats())
        signature.record(run)
        rows.append(signature.upsert(run))
    return rows


def run_bulk(bench: Bench, phase: Phase, settings: Settings, rows: list[dict]) -> None:
    """FalkorDB's own rate for this graph: the job's UNWIND statements, BULK_BATCH events a batch."""
    ensure_indexes(settings)
    db = falkordb_client(settings.falkordb_url.get_secret_value(), asynchronous=False)
    graph = db.select_graph(settings.falkordb_graph)
    db_sampler = procstats.TreeSampler(bench.falkordb, fresh=False)
    db_sampler.start()
    started = time.perf_counter()
    for start in range(0, len(rows), 2 * BULK_BATCH):
        write_plan(graph, rows[start:start + 2 * BULK_BATCH])
    phase.elapsed_s = time.perf_counter() - started
    phase.falkordb_cpu_s = db_sampler.stop()[1]
    db.connection.close()
    phase.events = len(bench.events)
    check_graph(settings, bench.events, phase)


def delete_quix_topics(settings: Settings, group: str) -> None:
    with admin_client(settings) as admin:
        doomed = [name for name in admin.list_topics() if group in name]
        if doomed:
            admin.delete_topics(doomed)


def delete_graph(settings: Settings) -> None:
    try:
        db = falkordb_client(settings.falkordb_url.get_secret_value(), asynchronous=False)
        if settings.falkordb_graph in db.list_graphs():
            db.select_graph(settings.falkordb_graph).delete()
        db.connection.close()
    except Exception as exc:  # cleanup must not lose the figures; the graph is named, easy to drop later
        print(f"  could not delete graph {settings.falkordb_graph}: {exc}", flush=True)


def one_run(bench: Bench, run: int, contenders: list[str], rows: list[dict], profile: bool) -> list[Phase]:
    prefix = f"sbs-{uuid.uuid4().hex[:8]}"
    topics = bench.settings(prefix, prefix)
    ensure_topics(topics)
    with EventGateway(topics) as gateway:
        for start in range(0, len(bench.events), 5000):
            gateway.publish_many(bench.events[start:start + 5000])
    bench.published_probes = []
    phases = []
    try:
        for name in contenders:
            phase = Phase(name, run, load_1m=os.getloadavg()[0])
            group = f"{prefix}-{name}"
            settings = bench.settings(prefix, group)
            print(f"run {run}: {name} ...", flush=True)
            try:
                if name == "flink":
                    run_flink(bench, phase, settings, group)
                elif name == "bulk-unwind":
                    run_bulk(bench, phase, settings, rows)
                elif name == "seed" and bench.seed_prefix and bench.seed_prefix < len(bench.events):
                    seed_topics = bench.settings(f"{prefix}-seed", group)
                    ensure_topics(seed_topics)
                    with EventGateway(seed_topics) as gateway:
                        for start in range(0, bench.seed_prefix, 5000):
                            gateway.publish_many(bench.events[start:min(start + 5000, bench.seed_prefix)])
                    try:
                        phase.prefix = bench.seed_prefix
                        run_process(bench, phase, seed_topics, group, bench.events[:bench.seed_prefix])
                    finally:
                        delete_prefixed_topics(seed_topics)
                else:
                    run_process(bench, phase, settings, group)
            except Exception as exc:  # one contender failing must not lose the others' figures
                phase.error = f"{type(exc).__name__}: {exc}"
            finally:
                delete_graph(settings)
                if name == "quix":
                    delete_quix_topics(settings, group)
            print(f"  {format_phase(phase)}", flush=True)
            phases.append(phase)
        if profile:
            phase = Phase("flink-profiled", run, load_1m=os.getloadavg()[0])
            settings = bench.settings(prefix, f"{prefix}-profile")
            try:
                run_flink(bench, phase, settings, f"{prefix}-profile", profile=True)
            finally:
                delete_graph(settings)
            phases.append(phase)
    finally:
        delete_prefixed_topics(topics)
    return phases


# Report ----------------------------------------------------------------------------------------------
def format_phase(phase: Phase) -> str:
    if phase.rate is None:
        return f"{phase.contender}: not reported ({phase.error or 'unverified'})"
    return (f"{phase.contender}: {phase.rate:,.0f} events/s ({phase.events} in {phase.elapsed_s:.1f}s), "
            f"p50 {phase.p50_ms} ms p99 {phase.p99_ms} ms, RSS {phase.peak_rss_mb or 0:.0f} MB, "
            f"CPU {phase.cpu_s or 0:.1f}s, FalkorDB CPU {phase.falkordb_cpu_s or 0:.1f}s")


def median_of(phases: list[Phase], attr: str) -> float | None:
    values = [getattr(p, attr) for p in phases if p.rate is not None and getattr(p, attr) is not None]
    return statistics.median(values) if values else None


def summarise(phases: list[Phase], contenders: list[str]) -> dict[str, dict]:
    summary = {}
    for name in contenders:
        mine = [p for p in phases if p.contender == name]
        rates = [p.rate for p in mine if p.rate is not None]
        summary[name] = {
            "runs": len(mine), "verified": len(rates), "prefix": max((p.prefix for p in mine), default=0),
            "events_per_s": statistics.median(rates) if rates else None,
            "min": min(rates) if rates else None, "max": max(rates) if rates else None,
            **{attr: median_of(mine, attr) for attr in
               ("p50_ms", "p99_ms", "peak_rss_mb", "cpu_s", "jvm_cpu_s", "falkordb_cpu_s", "startup_s")},
        }
    return summary


def ratios(summary: dict[str, dict]) -> dict[str, float | None]:
    def rate(name: str) -> float | None:
        return summary.get(name, {}).get("events_per_s")

    def ratio(a: str, b: str) -> float | None:
        return round(rate(a) / rate(b), 2) if rate(a) and rate(b) else None  # type: ignore[operator]

    return {"flink/seed": ratio("flink", "seed"), "quix/seed": ratio("quix", "seed"),
            "flink/quix": ratio("flink", "quix"), "flink/read-kafka-python": ratio("flink", "read-kafka-python"),
            "flink/read-confluent": ratio("flink", "read-confluent"),
            "flink/bulk-unwind": ratio("flink", "bulk-unwind")}


def table(summary: dict[str, dict]) -> str:
    def cell(value: float | None, fmt: str) -> str:
        return "-" if value is None else format(value, fmt)

    head = (f"{'contender':<26} {'events/s':>9} {'min-max':>15} {'ok':>4} {'p50 ms':>7} {'p99 ms':>7} "
            f"{'RSS MB':>7} {'CPU s':>6} {'DB CPU s':>8}")
    lines = [head, "-" * len(head)]
    for name, s in summary.items():
        if s.get("prefix"):
            name = f"{name} (first {s['prefix']:,})"
        spread = f"{s['min']:,.0f}-{s['max']:,.0f}" if s["min"] is not None else "-"
        lines.append(f"{name:<26} {cell(s['events_per_s'], ',.0f'):>9} {spread:>15} "
                     f"{s['verified']}/{s['runs']:<2} {cell(s['p50_ms'], '.0f'):>7} {cell(s['p99_ms'], '.0f'):>7} "
                     f"{cell(s['peak_rss_mb'], '.0f'):>7} {cell(s['cpu_s'], '.1f'):>6} "
                     f"{cell(s['falkordb_cpu_s'], '.1f'):>8}")
    return "\n".join(lines)


def busy_reason(settings: Settings, max_load: float) -> str:
    try:
        running = [j.name for j in cluster.list_jobs(settings) if j.state == "RUNNING"]
    except Exception as exc:  # an overloaded JobManager times out: try again later
        return f"Flink REST did not answer ({type(exc).__name__})"
    if running:
        return f"jobs running on the cluster: {running}"
    if max_load and os.getloadavg()[0] > max_load:
        return f"load average {os.getloadavg()[0]:.1f} > {max_load}"
    return ""


def wait_idle(settings: Settings, max_wait_s: float, max_load: float) -> None:
    """Measure nothing while another job runs on the cluster (a soak, another benchmark) or, with
    --max-load, while the machine is busier than that."""
    deadline = time.monotonic() + max_wait_s
    while reason := busy_reason(settings, max_load):
        if time.monotonic() > deadline:
            raise SystemExit(f"still busy after {max_wait_s:.0f}s: {reason}")
        print(f"waiting: {reason}", flush=True)
        time.sleep(15)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--contenders", default=",".join(CONTENDERS), help=f"subset of {','.join(CONTENDERS)}")
    parser.add_argument("--probes", type=int, default=100)
    parser.add_argument("--probe-rate", type=float, default=20.0, help="probe events per second")
    parser.add_argument("--profile", action="store_true", help="py-spy the job's Python workers in an extra pass")
    parser.add_argument("--timeout", type=float, default=0, help="seconds per contender (default: N / 20 + 120)")
    parser.add_argument("--wait-idle", type=float, default=1800, help="seconds to wait for other jobs to end")
    parser.add_argument("--max-load", type=float, default=0, help="wait for the 1-min load average to fall below")
    parser.add_argument("--out", type=Path, default=None, help="JSON results (default .state/side-by-side/...)")
    parser.add_argument("--seed-prefix", type=int, default=10_000,
                        help="the seed's loop (~120 events/s, constant per event) reads only the first N events")
    parser.add_argument("--background-rate", type=float, default=2000.0,
                        help="events/s of steady load on the failure job while its probes run (0: none)")
    parser.add_argument("--job-args", default="", help="extra flags for the failure job, e.g. '--parallelism 2'")
    parser.add_argument("--port-offset", type=int, default=0)
    parser.add_argument("--state-dir", type=Path, default=DEFAULT_STATE_DIR)
    args = parser.parse_args()
    contenders = [c for c in args.contenders.split(",") if c]
    unknown = set(contenders) - set(CONTENDERS)
    if unknown:
        parser.error(f"unknown contenders: {', '.join(sorted(unknown))}")
    stack = Stack(StackLayout(state_dir=args.state_dir, ports=Ports().shifted(args.port_offset)))
    out_dir = REPO_ROOT / ".state" / "side-by-side"
    out = args.out or out_dir / f"results-{time.strftime('%Y%m%d-%H%M%S')}.json"
    bench = Bench(stack, stack.settings("admin"), workload(args.events), args.probes, args.probe_rate,
                  args.timeout or args.events / 20 + 120, out_dir, job_args=tuple(args.job_args.split()),
                  seed_prefix=args.seed_prefix, background_rate=args.background_rate)
    wait_idle(bench.base, args.wait_idle, args.max_load)
    rows = bulk_rows(bench.events) if "bulk-unwind" in contenders else []
    size = sum(len(e.to_bytes()) for e in bench.events) / len(bench.events)
    loads = [os.getloadavg()[0]]
    phases: list[Phase] = []
    for run in range(1, args.runs + 1):
        wait_idle(bench.base, args.wait_idle, args.max_load)
        phases += one_run(bench, run, contenders, rows, profile=args.profile and run == args.runs)
        loads.append(os.getloadavg()[0])
    summary = summarise([p for p in phases if p.contender in contenders], contenders)
    print(f"\nside by side: N={args.events} events of {size:.0f} B, median of {args.runs} runs, "
          f"{os.cpu_count()} cores; load average (1 min) during the runs "
          f"{min(p.load_1m for p in phases):.1f}-{max(p.load_1m for p in phases):.1f}")
    print(table(summary))
    print("ratios (events/s):", json.dumps(ratios(summary)))
    loaded = [p.background for p in phases if p.background]
    if loaded:
        achieved = ", ".join(f"{b['events'] / b['seconds']:,.0f}" if b["seconds"] else "-" for b in loaded)
        print(f"flink's p50/p99 were measured under a steady background load of {loaded[0]['rate']:,.0f} events/s "
              f"(achieved: {achieved} events/s)")
    print("flink and quix write FalkorDB and Neo4j (Neo4j's graph is shared by the runs; the first writer creates"
          " the nodes); seed and bulk-unwind write FalkorDB only")
    profiled = [p.profile for p in phases if p.profile]
    if profiled:
        print("py-spy, the job's Python workers (share of samples; self = leaf frame):")
        for frame, share in profiled[0]["self"][:10]:
            print(f"  self {share:6.1%}  {frame}")
        for frame, share in profiled[0]["inclusive"][:15]:
            print(f"  incl {share:6.1%}  {frame}")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({
        "events": args.events, "event_bytes": round(size), "runs": args.runs, "cores": os.cpu_count(),
        "load_1m": loads, "summary": summary, "ratios": ratios(summary), "phases": [asdict(p) for p in phases],
        "notes": {"clock": "from the contender's start (Flink: RUNNING) on a pre-published topic to the last "
                           "graph write", "neo4j": "flink and quix write Neo4j as well"},
    }, indent=2))
    print(f"results: {out}")
    print(f"chart: {write_chart(out)}")


if __name__ == "__main__":
    main()
