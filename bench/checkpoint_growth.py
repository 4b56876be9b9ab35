"""Checkpoints of the healing and DLQ jobs under a long stream of distinct keys.

    make up && .venv/bin/python -m bench.checkpoint_growth            (about 10 minutes on 2 cores)

Each job runs as shipped on a topic prefix of its own and gets STAGES batches of records, every record with
a key no earlier record had: the healing job `test.executed` runs of distinct tests (the common case: tests
that never needed healing), the DLQ job retryable dead letters with distinct ids (each waits for its 2 s
backoff, then is republished). After each batch, once the job's consumer group has no lag and the letters'
backoffs have passed, the bench waits for a checkpoint that completed after that and prints the state it
covers (RocksDB, incremental) and what it wrote. Flat means the covered state does not grow with the keys.
The failure job's state grows with its distinct signatures by design (bench/state_growth.py shows it).
"""

from __future__ import annotations

import argparse
import json
import random
import time
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path

from argus_dev.samples import executed_event
from argus_dev.stack.base import DEFAULT_STATE_DIR, REPO_ROOT, Ports, StackLayout
from argus_dev.stack.manager import Stack
from kafka import KafkaProducer

from argus_streams.bus.admin import delete_prefixed_topics, ensure_topics
from argus_streams.bus.gateway import EventGateway
from argus_streams.bus.lag import caught_up, describe_groups
from argus_streams.contract import dead_letters
from argus_streams.contract.events import EventType, topic_for
from argus_streams.dlq import triage
from argus_streams.flink import cluster
from argus_streams.settings import Settings
from bench.state_growth import checkpoint_after

STAGES = 4
BACKOFF_S = triage.backoff_ms(1) / 1000  # a first failure's letter waits this long


@dataclass
class Stage:
    job: str
    keys: int  # distinct keys published so far
    checkpoint_mb: float
    written_mb: float
    duration_ms: int
    seconds: float  # from the first record of the batch to no lag


def healing_batch(stage: int, size: int, tenants: int = 50) -> list:
    rng = random.Random(stage)
    return [executed_event(rng, tenant=f"cg-{i % tenants}", suite=f"s{i % 60}", test=f"t{stage}-{i}", run=i,
                           status="passed" if i % 5 else "failed") for i in range(size)]


def publish_letters(settings: Settings, stage: int, size: int) -> None:
    """Retryable dead letters of distinct records (as a job writes them), on the DLQ topic."""
    original = topic_for(EventType.TEST_EXECUTED, settings.topic_prefix)
    producer = KafkaProducer(**settings.kafka_client_config(), acks="all", compression_type="gzip")
    try:
        for i in range(size):
            record = dead_letters.SourceRecord(topic=original, partition=0, offset=stage * size + i, key=f"k{i}",
                                               value=json.dumps({"n": i}).encode(), headers={"tenant_id": "cg"})
            letter = dead_letters.dead_letter(record, ConnectionError("store away"), "bench", retryable=True)
            headers = dead_letters.dead_letter_headers(record, letter.metadata["retry_count"])
            producer.send(topic_for(EventType.DLQ, settings.topic_prefix),
                          key=dead_letters.dead_letter_key(record).encode(),
                          value=letter.to_bytes(), headers=[(k, (v or "").encode()) for k, v in headers.items()])
        producer.flush()
    finally:
        producer.close()


def wait_no_lag(settings: Settings, group: str, timeout_s: float = 900) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if caught_up(describe_groups(settings, [group])):
            return
        time.sleep(2)
    raise TimeoutError(f"group {group} still lags after {timeout_s:.0f}s")


def run_job(job: str, base: Settings, stack: Stack, size: int, stages: int) -> list[Stage]:
    prefix = f"cg-{uuid.uuid4().hex[:8]}"
    settings = base.model_copy(update={"topic_prefix": prefix, "falkordb_graph": prefix})
    group = f"{prefix}-{job}"
    ensure_topics(settings)
    job_id = cluster.submit(settings, job, stack_env=stack.layout.secrets_file,
                            job_args=("--topic-prefix", prefix, "--graph", prefix, "--group-id", group))
    results: list[Stage] = []
    try:
        cluster.wait_running(settings, job_id)
        for stage in range(stages):
            started = time.monotonic()
            if job == "healing":
                with EventGateway(settings) as gateway:
                    gateway.publish_many(healing_batch(stage, size))
            else:
                publish_letters(settings, stage, size)
            wait_no_lag(settings, group)
            seconds = time.monotonic() - started
            if job == "dlq":
                time.sleep(BACKOFF_S + 1)  # every letter's timer has fired
            completed = checkpoint_after(settings, job_id, int(time.time() * 1000))
            results.append(Stage(job, (stage + 1) * size, round(completed.get("state_size", 0) / 2**20, 2),
                                 round(completed.get("checkpointed_size", 0) / 2**20, 2),
                                 completed.get("end_to_end_duration", 0), round(seconds, 1)))
            print(row(results[-1]), flush=True)
    finally:
        cluster.cancel(settings, job_id)
        delete_prefixed_topics(settings)
    return results


def row(s: Stage) -> str:
    return (f"{s.job:<8} {s.keys:>12,} {s.checkpoint_mb:>14.2f} {s.written_mb:>11.2f} {s.duration_ms:>8} "
            f"{s.seconds:>8.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", default="healing,dlq")
    parser.add_argument("--size", type=int, default=50_000, help="distinct keys per batch")
    parser.add_argument("--stages", type=int, default=STAGES)
    parser.add_argument("--port-offset", type=int, default=0)
    parser.add_argument("--state-dir", type=Path, default=DEFAULT_STATE_DIR)
    args = parser.parse_args()
    stack = Stack(StackLayout(state_dir=args.state_dir, ports=Ports().shifted(args.port_offset)))
    print(f"{'job':<8} {'distinct keys':>12} {'checkpoint MB':>14} {'written MB':>11} {'ckpt ms':>8} {'batch s':>8}")
    settings = stack.settings("admin")
    results = [s for job in args.jobs.split(",") for s in run_job(job, settings, stack, args.size, args.stages)]
    out = REPO_ROOT / ".state" / "checkpoint-growth" / f"results-{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps([asdict(s) for s in results], indent=2))
    print(f"results: {out}")


if __name__ == "__main__":
    main()
