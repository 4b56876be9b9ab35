"""Failure -> healing.completed latency of the healing job, for healer answers and for cache hits.

    make up && .venv/bin/python -m bench.healing_latency --probes 60

Each healer probe is a locator failure of a new tenant (a cache miss, healed by the locator strategy
through healing.requested -> healer -> healing.completed); each cache probe repeats a failure whose fix
is cached. Failures are sent one at a time (latency, not throughput); p50/p99 are printed.
"""

from __future__ import annotations

import argparse
import time
import uuid

from argus_dev.samples import PAGE_AFTER_UI_CHANGE, locator_failure

from argus_streams.bus.admin import delete_prefixed_topics, ensure_topics
from argus_streams.bus.gateway import EventGateway
from argus_streams.flink import cluster
from argus_streams.healing.watch import HealingWatch
from argus_streams.settings import Settings


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * share))]


def probe(gateway: EventGateway, watch: HealingWatch, tenant: str, seed: int) -> tuple[float, str]:
    failure = locator_failure(tenant, "t-order", "#place-order", PAGE_AFTER_UI_CHANGE, seed=seed)
    started = time.perf_counter()
    gateway.publish(failure)
    arrived, answer = watch.answer(failure.correlation_id)
    return arrived - started, answer["payload"]["source"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--probes", type=int, default=60)
    args = parser.parse_args()
    prefix = f"bench-{uuid.uuid4().hex[:8]}"
    settings = Settings.load().as_principal("admin").model_copy(
        update={"topic_prefix": prefix, "falkordb_graph": prefix})
    ensure_topics(settings)
    job_id = cluster.submit(settings, "healing", job_args=(
        "--topic-prefix", prefix, "--graph", prefix, "--group-id", f"{prefix}-healing"))
    watch = HealingWatch(settings)
    latencies: dict[str, list[float]] = {"healer": [], "cache": []}
    try:
        cluster.wait_running(settings, job_id)
        with EventGateway(settings) as gateway:
            probe(gateway, watch, f"{prefix}-warm-up", 0)
            for i in range(args.probes):
                took, source = probe(gateway, watch, f"{prefix}-t{i}", 1000 + 2 * i)  # seeds set the correlation ids
                latencies[source].append(took)
                time.sleep(0.5)  # the fix is cached just after the answer
                took, source = probe(gateway, watch, f"{prefix}-t{i}", 1001 + 2 * i)
                latencies[source].append(took)
        for source, values in latencies.items():
            if values:
                print(f"{source:<7} answers: {len(values):>4}  p50 {percentile(values, 0.5) * 1000:6.0f} ms  "
                      f"p99 {percentile(values, 0.99) * 1000:6.0f} ms  max {max(values) * 1000:6.0f} ms")
    finally:
        watch.close()
        cluster.cancel(settings, job_id)
        delete_prefixed_topics(settings)


if __name__ == "__main__":
    main()
