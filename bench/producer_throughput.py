"""Producer gateway throughput against the local broker: 1 KB events, acks=all, idempotent, gzip.

    make bench            (or: .venv/bin/python -m bench.producer_throughput --events 50000)

Prints events/s and MB/s for the gateway (pipelined publish_many) against a baseline in the same run:
a bare kafka-python producer with the same durability settings, so the ratio is the gateway's cost.
Uses its own topic prefix on the default stack (`make up` first) and deletes nothing else.
"""

from __future__ import annotations

import argparse
import random
import time
import uuid

from argus_dev.samples import failed_event
from kafka import KafkaProducer

from argus_streams.bus.admin import delete_prefixed_topics, ensure_topics
from argus_streams.bus.gateway import EventGateway
from argus_streams.settings import Settings


def events_of_1kb(count: int, prefix_tenant: str) -> list:
    rng = random.Random(42)
    return [failed_event(rng, tenant=f"{prefix_tenant}-{i % 50}", suite=f"suite-{i % 60}", test=f"t{i % 500}",
                         signature_id=(i % 6) * 1000 + i % 800, run=i, pad_to=400) for i in range(count)]


def run(settings: Settings, count: int, rounds: int) -> None:
    events = events_of_1kb(count, "bench")
    size = sum(len(e.to_bytes()) for e in events) / count
    print(f"{count} events of {size:.0f} B, {rounds} rounds each, acks=all, idempotent, gzip, 6 partitions")
    results: dict[str, list[float]] = {"gateway": [], "bare kafka-python": []}
    for _ in range(rounds):
        with EventGateway(settings) as gateway:
            started = time.perf_counter()
            for start in range(0, count, 5000):
                gateway.publish_many(events[start:start + 5000])
            results["gateway"].append(count / (time.perf_counter() - started))
        bare = KafkaProducer(**settings.kafka_client_config(), acks="all", enable_idempotence=True,
                             compression_type="gzip", linger_ms=5, max_in_flight_requests_per_connection=5)
        topic = f"{settings.topic_prefix}.test.failed"
        started = time.perf_counter()
        futures = [bare.send(topic, key=e.partition_key(), value=e.to_bytes()) for e in events]
        bare.flush()
        assert all(f.succeeded() for f in futures)
        results["bare kafka-python"].append(count / (time.perf_counter() - started))
        bare.close()
    base = sorted(results["bare kafka-python"])[rounds // 2]
    for name, rates in results.items():
        median = sorted(rates)[rounds // 2]
        print(f"{name:<18} median {median:>8.0f} events/s  {median * size / 1e6:6.2f} MB/s  "
              f"(runs: {', '.join(f'{r:.0f}' for r in rates)})  ratio vs bare: {median / base:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    prefix = f"bench-{uuid.uuid4().hex[:8]}"
    settings = Settings.load().as_principal("admin").model_copy(update={"topic_prefix": prefix})
    ensure_topics(settings)
    try:
        run(settings, args.events, args.rounds)
    finally:
        delete_prefixed_topics(settings)


if __name__ == "__main__":
    main()
