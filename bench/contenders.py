"""The side-by-side benchmark's Python contenders, each run as its own process by `bench.side_by_side`.

    .venv/bin/python -m bench.contenders seed|quix|read-kafka-python|read-confluent \
        --stack-env .state/test-stack-20000/stack.env --prefix P --graph G --group-id C [--expect N]

seed: the seed's CogneeConsumer loop (kafka-python, one message at a time, one parameterised MERGE per
      event, commit after each message); quix: the failure job's aggregation written with Quix Streams;
read-*: the limit, a consumer that reads and JSON-parses `--expect` records and writes nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

from argus_streams.contract.events import ArgusEvent, EventType, topic_for
from argus_streams.failures.graph import FalkorGraphWriter, WritePlan
from argus_streams.failures.logic import SignatureStats, TestHistory, TestRun, parse_run
from argus_streams.failures.signature import compute
from argus_streams.settings import Settings
from argus_streams.stores.graphs import falkordb_client

# The seed's `_handle_test_failed` query; the node keys also carry tenant_id, as every key of this
# project's graph does, so one verification query reads every contender's graph.
SEED_MERGE = """
MERGE (f:Failure {tenant_id: $tenant_id, signature: $signature})
SET f.count = COALESCE(f.count, 0) + 1,
    f.last_seen = $timestamp
MERGE (t:Test {tenant_id: $tenant_id, id: $test_id})
MERGE (t)-[:HAD_FAILURE]->(f)
"""
SEED_MAX_POLL_RECORDS = 10  # the seed's consumer setting


def seed_params(event: ArgusEvent) -> dict[str, Any]:
    """The parameters of SEED_MERGE for one test.failed event (the signature is this project's)."""
    return {"tenant_id": event.tenant_id, "signature": compute(event.payload["failure_details"]).id,
            "timestamp": event.timestamp.isoformat(), "test_id": event.payload["test_id"]}


def ensure_indexes(settings: Settings) -> None:
    """The project's MERGE-key indexes on `settings.falkordb_graph`, so every contender gets the same."""
    async def run() -> None:
        writer = FalkorGraphWriter(settings)
        await writer.ensure_indexes()
        await writer.close()
    asyncio.run(run())


def write_plan(graph: Any, rows: list[dict[str, Any]]) -> list[tuple[str, list[dict[str, Any]]]]:
    """This project's batched upserts (UNWIND, newest row per key), on a synchronous FalkorDB graph;
    returns the statements it ran."""
    statements = WritePlan.of(rows).statements()
    for query, params in statements:
        graph.query(query, {"rows": params})
    return statements


# 1. The seed's consumer loop ---------------------------------------------------------------------------
def run_seed(settings: Settings, group_id: str) -> None:
    from kafka import KafkaConsumer

    consumer = KafkaConsumer(
        topic_for(EventType.TEST_FAILED, settings.topic_prefix), **settings.kafka_client_config(),
        group_id=group_id, auto_offset_reset="earliest", enable_auto_commit=False,
        max_poll_records=SEED_MAX_POLL_RECORDS,
    )
    db = falkordb_client(settings.falkordb_url.get_secret_value(), asynchronous=False)
    graph = db.select_graph(settings.falkordb_graph)
    for message in consumer:
        event = ArgusEvent.from_json(message.value)
        if event.event_type is EventType.TEST_FAILED:
            graph.query(SEED_MERGE, seed_params(event))
        consumer.commit()


# 3. Quix Streams: state per key, repartition by signature, a batching sink -----------------------------
def history_to_state(history: TestHistory) -> dict[str, Any]:
    """TestHistory as JSON (Quix state is JSON); build order is kept, it decides which build ages out."""
    return {"builds": {b: [sorted(f), sorted(p), sorted(ids)] for b, (f, p, ids) in history.builds.items()},
            "seq": history.seq}


def history_from_state(value: dict[str, Any] | None) -> TestHistory:
    if not value:
        return TestHistory()
    builds = {b: (set(f), set(p), set(ids)) for b, (f, p, ids) in value["builds"].items()}
    return TestHistory(builds=builds, seq=value["seq"])


def stats_from_state(value: dict[str, Any] | None) -> SignatureStats:
    if not value:
        return SignatureStats()
    return SignatureStats(**{**value, "sample_key": tuple(value["sample_key"])})


def record_history(run: dict[str, Any], state: Any) -> dict[str, Any] | None:
    """Keyed by the message key (the suite): dedupe, history and flakiness per (tenant, test)."""
    parsed = TestRun(**run)
    key = f"{parsed.tenant_id}\x1f{parsed.test_id}"
    history = history_from_state(state.get(key))
    if not history.record(parsed):
        return None
    state.set(key, history_to_state(history))
    return {"run": run, "test_row": history.upsert(parsed)}


def record_signature(value: dict[str, Any], state: Any) -> list[dict[str, Any]]:
    """Keyed by (tenant, signature): the signature's statistics; emits the test row and the failure row."""
    run = TestRun(**value["run"])
    stats = stats_from_state(state.get("stats"))
    stats.record(run)
    state.set("stats", asdict(stats))
    return [value["test_row"], stats.upsert(run)]


def quix_connection(settings: Settings) -> Any:
    from quixstreams.kafka.configuration import ConnectionConfig

    config: dict[str, Any] = {"bootstrap_servers": settings.brokers,
                              "security_protocol": settings.security_protocol.lower()}
    if settings.security_protocol.startswith("SASL"):
        config.update(sasl_mechanism=settings.sasl_mechanism, sasl_username=settings.sasl_username,
                      sasl_password=settings.sasl_password.get_secret_value())
    return ConnectionConfig.model_validate(config)


def run_quix(settings: Settings, group_id: str, state_dir: Path) -> None:
    from quixstreams import Application
    from quixstreams.sinks import BatchingSink, SinkBatch

    class GraphSink(BatchingSink):
        """One WritePlan per flushed batch (Quix flushes sinks on each commit, every 5 s by default), into
        FalkorDB and then Neo4j (one transaction), as the failure job writes both stores."""

        def setup(self) -> None:
            from neo4j import GraphDatabase

            self._db = falkordb_client(settings.falkordb_url.get_secret_value(), asynchronous=False)
            self._graph = self._db.select_graph(settings.falkordb_graph)
            auth = (settings.neo4j_user, settings.neo4j_password.get_secret_value())
            self._neo4j = GraphDatabase.driver(settings.neo4j_uri, auth=auth)

        def write(self, batch: SinkBatch) -> None:
            statements = write_plan(self._graph, [item.value for item in batch])

            def work(tx: Any) -> None:
                for query, params in statements:
                    tx.run(query, {"rows": params}).consume()
            with self._neo4j.session() as session:
                session.execute_write(work)

    app = Application(broker_address=quix_connection(settings), consumer_group=group_id,
                      auto_offset_reset="earliest", state_dir=state_dir, loglevel="WARNING")
    topic = app.topic(topic_for(EventType.TEST_FAILED, settings.topic_prefix),
                      key_deserializer="bytes", value_deserializer="bytes")
    sdf = app.dataframe(topic)
    sdf = sdf.apply(lambda raw: asdict(parse_run(raw)))
    sdf = sdf.apply(record_history, stateful=True).filter(lambda value: value is not None)
    sdf = sdf.group_by(lambda value: TestRun(**value["run"]).signature_key, name="signature")
    sdf = sdf.apply(record_signature, stateful=True, expand=True)
    sdf.sink(GraphSink())
    app.run()


# 4. The limit: read and parse, write nothing -----------------------------------------------------------
def read_kafka_python(settings: Settings, group_id: str, expect: int) -> int:
    from kafka import KafkaConsumer

    consumer = KafkaConsumer(topic_for(EventType.TEST_FAILED, settings.topic_prefix),
                             **settings.kafka_client_config(), group_id=group_id,
                             auto_offset_reset="earliest", enable_auto_commit=False)
    seen = 0
    while seen < expect:
        for records in consumer.poll(timeout_ms=1000, max_records=1000).values():
            for record in records:
                json.loads(record.value)
                seen += 1
    consumer.close()
    return seen


def read_confluent(settings: Settings, group_id: str, expect: int) -> int:
    from confluent_kafka import Consumer

    config = {"bootstrap.servers": settings.brokers, "group.id": group_id, "auto.offset.reset": "earliest",
              "enable.auto.commit": False, "security.protocol": settings.security_protocol}
    if settings.security_protocol.startswith("SASL"):
        config.update({"sasl.mechanism": settings.sasl_mechanism, "sasl.username": settings.sasl_username,
                       "sasl.password": settings.sasl_password.get_secret_value()})
    consumer = Consumer(config)
    consumer.subscribe([topic_for(EventType.TEST_FAILED, settings.topic_prefix)])
    seen = 0
    while seen < expect:
        for message in consumer.consume(num_messages=1000, timeout=1.0):
            if message.error() is None:
                json.loads(message.value())
                seen += 1
    consumer.close()
    return seen


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("contender", choices=["seed", "quix", "read-kafka-python", "read-confluent"])
    parser.add_argument("--stack-env", type=Path, required=True)
    parser.add_argument("--prefix", required=True)
    parser.add_argument("--graph", required=True)
    parser.add_argument("--group-id", required=True)
    parser.add_argument("--expect", type=int, default=0, help="read-*: records to read before exiting")
    parser.add_argument("--quix-state-dir", type=Path, default=Path(".state/side-by-side/quix"))
    args = parser.parse_args()
    settings = Settings.for_stack_file(args.stack_env).as_principal("admin").model_copy(
        update={"topic_prefix": args.prefix, "falkordb_graph": args.graph})
    if args.contender == "seed":
        run_seed(settings, args.group_id)
    elif args.contender == "quix":
        run_quix(settings, args.group_id, args.quix_state_dir)
    else:
        started = time.perf_counter()
        reader = read_confluent if args.contender == "read-confluent" else read_kafka_python
        seen = reader(settings, args.group_id, args.expect)
        elapsed, usage = time.perf_counter() - started, resource.getrusage(resource.RUSAGE_SELF)
        # Exact figures of this whole process (the harness's sampler can miss a short life's last moments).
        print(json.dumps({"records": seen, "elapsed_s": elapsed, "cpu_s": usage.ru_utime + usage.ru_stime,
                          "peak_rss_mb": usage.ru_maxrss / 1024}))


if __name__ == "__main__":
    main()
