"""Soak: the failure job and the DLQ processor under a steady stream with poison, through four real faults.

    make up && .venv/bin/python -m bench.soak --minutes 10 --rate 40

Publishes test.failed/test.executed events at `--rate` per second on a topic prefix of its own, with a
poison record every 5 s, while it kills the TaskManager, stops FalkorDB for 30 s, stops Neo4j for 30 s
and restarts Kafka, spread over the run. Then it accounts for every record: each good event counted once in
both graphs, each poison record once in the review store. Prints the figures and the time each fault took
to recover from: fault injected -> the job runs again and the graph holds everything published until the
fault was over.
`--port-offset 20000 --state-dir .state/test-stack-20000` aims it at another local stack.
"""

from __future__ import annotations

import argparse
import random
import threading
import time
import uuid
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from argus_dev import faults
from argus_dev.poison import poison_values
from argus_dev.samples import executed_event, failed_event
from argus_dev.stack.base import DEFAULT_STATE_DIR, Ports, StackLayout
from argus_dev.stack.manager import Stack

from argus_streams.bus.admin import delete_prefixed_topics, ensure_topics
from argus_streams.bus.gateway import EventGateway
from argus_streams.contract.events import ArgusEvent
from argus_streams.dlq.review import ReviewFilter, ReviewStore
from argus_streams.errors import ArgusStreamsError
from argus_streams.failures.queries import falkordb_rows, neo4j_rows
from argus_streams.flink import cluster
from argus_streams.settings import Settings

POISON_EVERY_S = 5
TENANTS = 5
TOTAL = "MATCH (f:Failure) WHERE f.tenant_id STARTS WITH $p RETURN sum(f.count) AS n"


class Publisher(threading.Thread):
    """Steady good events with poison mixed in; a refused batch is retried (the jobs dedupe event ids)."""

    def __init__(self, settings: Settings, rate: float):
        super().__init__(daemon=True)
        self.settings, self.rate = settings, rate
        self.failed_published = 0  # good test.failed events acknowledged by the broker
        self.poison_published = 0
        self.errors = 0
        self.stop = threading.Event()
        self.poison = [v for v in poison_values(self._failed(0)).values() if len(v) < 1_000_000]

    def _failed(self, i: int) -> ArgusEvent:
        rng = random.Random(i)
        return failed_event(rng, tenant=f"{self.settings.topic_prefix}-t{i % TENANTS}", suite=f"suite-{i % 7}",
                            test=f"t{i % 41}", signature_id=(i % 3) * 1000 + i % 17, run=i)

    def run(self) -> None:
        from kafka import KafkaProducer

        raw = KafkaProducer(**self.settings.kafka_client_config(), max_request_size=4 * 1024 * 1024)
        with EventGateway(self.settings) as gateway:
            i = 0
            while not self.stop.is_set():
                started = time.monotonic()
                batch = [self._failed(i + n) for n in range(int(self.rate))]
                batch += [executed_event(random.Random(i), tenant=f"{self.settings.topic_prefix}-t0", suite="suite-0",
                                         test="t0", run=i, status="passed")]
                self._publish(gateway, batch)
                second = i // int(self.rate)
                if second % POISON_EVERY_S == 0:
                    value = self.poison[(second // POISON_EVERY_S) % len(self.poison)]
                    while True:
                        try:
                            raw.send(f"{self.settings.topic_prefix}.test.failed", key=f"bad-{i}".encode(),
                                     value=value).get(timeout=30)
                            self.poison_published += 1
                            break
                        except Exception:  # the broker is restarting: try again
                            self.errors += 1
                            time.sleep(1)
                i += int(self.rate)
                time.sleep(max(0.0, 1.0 - (time.monotonic() - started)))
        raw.close()

    def _publish(self, gateway: EventGateway, batch: list[ArgusEvent]) -> None:
        while True:
            try:
                gateway.publish_many(batch)
                self.failed_published += sum(1 for e in batch if e.event_type.value == "test.failed")
                return
            except ArgusStreamsError:
                self.errors += 1
                time.sleep(1)


def graph_total(settings: Settings, store: str) -> int:
    read = falkordb_rows if store == "falkordb" else neo4j_rows
    try:
        return int(read(settings, TOTAL, {"p": settings.topic_prefix})[0]["n"] or 0)
    except Exception:
        return -1  # the store is away right now


def wait_until(condition: Callable[[], bool], timeout_s: float) -> float:
    started = time.monotonic()
    while not condition():
        if time.monotonic() - started > timeout_s:
            return float("nan")
        time.sleep(1)
    return time.monotonic() - started


def serve_webhook() -> tuple[ThreadingHTTPServer, list[bytes]]:
    received: list[bytes] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server's name
            received.append(self.rfile.read(int(self.headers["Content-Length"])))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, received


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=10)
    parser.add_argument("--rate", type=float, default=40, help="good events per second")
    parser.add_argument("--port-offset", type=int, default=0)
    parser.add_argument("--state-dir", type=Path, default=DEFAULT_STATE_DIR)
    args = parser.parse_args()

    import os

    stack = Stack(StackLayout(state_dir=args.state_dir, ports=Ports().shifted(args.port_offset)))
    prefix = f"soak-{uuid.uuid4().hex[:8]}"
    settings = stack.settings("admin").model_copy(update={"topic_prefix": prefix, "falkordb_graph": prefix})
    ensure_topics(settings)
    webhook, alerts = serve_webhook()
    os.environ["ARGUS_ALERT_WEBHOOK_URL"] = f"http://127.0.0.1:{webhook.server_address[1]}/dlq"
    os.environ["ARGUS_ALERT_WEBHOOK_SECRET"] = "soak-secret"
    review = ReviewStore.from_settings(settings, schema=prefix.replace("-", "_"))
    review.ensure_schema()
    common = ("--topic-prefix", prefix, "--graph", prefix)
    jobs = {
        "failures": cluster.submit(settings, "failures", stack_env=stack.layout.secrets_file,
                                   job_args=(*common, "--group-id", f"{prefix}-failures")),
        "dlq": cluster.submit(settings, "dlq", stack_env=stack.layout.secrets_file,
                              job_args=(*common, "--group-id", f"{prefix}-dlq", "--review-schema", review.schema)),
    }
    for job_id in jobs.values():
        cluster.wait_running(settings, job_id)
    publisher = Publisher(settings, args.rate)
    started = time.monotonic()
    publisher.start()
    slot = args.minutes * 60 / 5
    schedule: list[tuple[str, Callable[[], None]]] = [
        ("TaskManager SIGKILL", lambda: _kill_taskmanager(stack)),
        ("FalkorDB down 30 s", lambda: _outage(stack, "falkordb", 30)),
        ("Neo4j down 30 s", lambda: _outage(stack, "neo4j", 30)),
        ("Kafka restart (down 15 s)", lambda: _outage(stack, "kafka", 15)),
    ]
    recoveries = []
    try:
        for n, (name, inject) in enumerate(schedule, start=1):
            time.sleep(max(0.0, started + n * slot - time.monotonic()))
            at, at_ms = time.monotonic(), int(time.time() * 1000)
            inject()  # returns once a stopped service is back
            if name.startswith("TaskManager"):
                faults.wait_restored(settings, jobs["failures"], since_ms=at_ms)
            back = publisher.failed_published  # everything published until the fault was over...
            wait_until(_caught_up(settings, back), timeout_s=600)  # ...is in the graph
            recoveries.append((name, time.monotonic() - at))
            print(f"{name}: caught up {time.monotonic() - at:.1f}s after the fault began")
        time.sleep(max(0.0, started + args.minutes * 60 - time.monotonic()))
    finally:
        publisher.stop.set()
        publisher.join()
    elapsed = time.monotonic() - started
    drain = wait_until(lambda: min(graph_total(settings, s) for s in ("falkordb", "neo4j"))
                       >= publisher.failed_published, timeout_s=600)
    wait_until(lambda: len(review.find(ReviewFilter())) >= publisher.poison_published, timeout_s=300)
    time.sleep(5)
    totals = {store: graph_total(settings, store) for store in ("falkordb", "neo4j")}
    reviewed = len(review.find(ReviewFilter()))
    for job_id in jobs.values():
        cluster.cancel(settings, job_id)

    print(f"\nsoak: {elapsed / 60:.1f} min at {args.rate:g} events/s, {len(schedule)} faults, "
          f"{publisher.errors} publish errors retried by the publisher")
    print(f"  good test.failed published (acked): {publisher.failed_published}")
    for store, total in totals.items():
        print(f"  counted in {store:<9}: {total}  (missing {publisher.failed_published - total}, "
              f"duplicated {max(0, total - publisher.failed_published)})")
    print(f"  poison published: {publisher.poison_published}; in the review store: {reviewed}; "
          f"alerts received: {len(alerts)}")
    print(f"  backlog drained {drain:.1f}s after the publisher stopped")
    for name, took in recoveries:
        print(f"  recovery from {name:<27}: {took:6.1f}s")
    review.drop()
    review.close()
    webhook.shutdown()
    delete_prefixed_topics(settings)


def _kill_taskmanager(stack: Stack) -> None:
    faults.kill_taskmanager(stack)


def _caught_up(settings: Settings, published: int) -> Callable[[], bool]:
    return lambda: graph_total(settings, "neo4j") >= published


def _outage(stack: Stack, service: str, seconds: float) -> None:
    with faults.outage(stack, service, down_s=seconds):
        pass


if __name__ == "__main__":
    main()
