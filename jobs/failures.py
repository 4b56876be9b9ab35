"""Failure intelligence: test.failed + test.executed -> failure graph in FalkorDB and Neo4j, bad input -> DLQ.

    argus-streams job submit failures        (flink run -py jobs/failures.py on the session cluster)
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Sequence
from typing import Any

from pyflink.common import Row, Time, Types, WatermarkStrategy
from pyflink.datastream import AsyncDataStream, AsyncFunction, DataStream, OutputTag
from pyflink.datastream.functions import KeyedProcessFunction, RuntimeContext
from pyflink.datastream.state import ValueStateDescriptor

from argus_streams import dlq
from argus_streams.batching import MicroBatcher
from argus_streams.events import EventType, topic_for
from argus_streams.failures import SignatureStats, TestHistory, TestRun, parse_run
from argus_streams.flink_kit import (
    DLQ_TAG,
    GRAPH_RETRY,
    OUT_RECORD_TYPE,
    RECORD_TYPE,
    ParseRecords,
    create_env,
    dead_letter_row,
    job_parser,
    job_settings,
    kafka_sink,
    kafka_source,
)
from argus_streams.graph import GraphSink, is_data_error
from argus_streams.job_metrics import JobMetrics
from argus_streams.settings import Settings

JOB_NAME = "argus-failures"
SOURCE_NAME = "flink.failures"
GRAPH_WRITE_TIMEOUT = Time.minutes(15)  # transient outages are retried inside; this only catches hangs
GRAPH_CAPACITY = 2000

GRAPH_TAG = OutputTag("graph-rows", Types.PICKLED_BYTE_ARRAY())


class TestHistoryFunction(KeyedProcessFunction):
    """Keyed by tenant + test suite (the topics' partition key): dedupe, pass/fail history, flakiness."""

    __test__ = False

    def open(self, runtime_context: RuntimeContext) -> None:
        # One value per (tenant, suite) holding every test's history, not a map state per test: each
        # state miss is a blocking round trip to the JVM, and a suite's tests are touched together.
        self.tests = runtime_context.get_state(ValueStateDescriptor("suite-tests", Types.PICKLED_BYTE_ARRAY()))

    def process_element(self, run: TestRun, ctx: KeyedProcessFunction.Context):  # noqa: ANN201
        tests: dict[str, TestHistory] = self.tests.value() or {}
        history = tests.setdefault(run.test_id, TestHistory())
        if not history.record(run):
            return  # a producer retry or a republished record: counted once
        self.tests.update(tests)
        yield GRAPH_TAG, history.upsert(run)
        if run.failed and run.signature:
            yield run


class SignatureFunction(KeyedProcessFunction):
    """Keyed by tenant + signature: count, first/last seen, sample, tests affected."""

    def open(self, runtime_context: RuntimeContext) -> None:
        self.stats = runtime_context.get_state(ValueStateDescriptor("signature-stats", Types.PICKLED_BYTE_ARRAY()))

    def process_element(self, run: TestRun, ctx: KeyedProcessFunction.Context):  # noqa: ANN201
        stats = self.stats.value() or SignatureStats()
        stats.record(run)
        self.stats.update(stats)
        yield stats.upsert(run)


class GraphWrite(AsyncFunction):
    """Batched idempotent upserts to FalkorDB and Neo4j; rows that are bad data come back as DLQ records.

    Transient database errors are retried inside (backpressure: the async queue fills, the source
    slows) and never reach the DLQ. Async I/O cannot emit side outputs, so failures are returned.
    """

    def __init__(self, settings: Settings, neo4j: bool = True):
        self.settings = settings
        self.neo4j = neo4j
        self._sink: GraphSink | None = None
        self._batcher: MicroBatcher[dict] | None = None

    def open(self, runtime_context: RuntimeContext) -> None:
        self._sink, self._batcher = None, None  # created on the operator's event loop, at first use
        self.metrics = JobMetrics(runtime_context.get_metrics_group())

    async def _write_batch(self, rows: Sequence[dict]) -> None:
        assert self._sink is not None
        started = time.perf_counter()
        await self._sink.write(rows)
        elapsed_ms = round((time.perf_counter() - started) * 1000)
        self.metrics.count("graph_write_batches")
        self.metrics.count("graph_write_rows", len(rows))
        self.metrics.count("graph_write_ms", elapsed_ms)  # rate(ms) / rate(batches) = mean batch latency
        self.metrics.gauge("graph_write_last_ms", elapsed_ms)

    async def async_invoke(self, row: dict) -> list:
        if self._sink is None or self._batcher is None:
            self._sink = GraphSink(self.settings, neo4j=self.neo4j)
            self._batcher = MicroBatcher(self._write_batch)
        try:
            await self._batcher.submit(row)
            return []
        except Exception as batch_error:
            if not is_data_error(batch_error):
                raise  # down past the retry deadline, or misconfigured: fail the task, restart from the checkpoint
        try:  # the batch held bad data: write this row alone to find out whether it is the culprit
            await self._sink.write([row])
            return []
        except Exception as exc:
            if not is_data_error(exc):
                raise
            return [graph_error_row(row, exc, self.settings.topic_prefix, self.metrics)]

    def close(self) -> None:
        if self._sink is not None:
            try:
                asyncio.get_event_loop().run_until_complete(self._sink.close())
            except RuntimeError:
                pass  # the operator's loop is already gone; connections close with the process


def graph_error_row(row: dict, error: BaseException, prefix: str, metrics: JobMetrics | None = None) -> Row:
    """A graph upsert the databases refused: no Kafka record stands behind it, so its row is the value."""
    record = dlq.SourceRecord(
        topic=topic_for(EventType.TEST_FAILED, prefix), partition=None, offset=None,
        key=row.get("suite_id"), value=json.dumps(row).encode(), headers={"tenant_id": row["tenant_id"]},
    )
    return dead_letter_row(record, error, prefix, SOURCE_NAME, metrics)


def aggregate(records: DataStream, prefix: str) -> tuple[DataStream, DataStream]:
    """Kafka records -> (graph upsert rows, DLQ records): everything but the I/O at both ends."""
    parse = ParseRecords(prefix, SOURCE_NAME, lambda record: parse_run(record.value), lambda run: run.event_type)
    runs = records.process(parse, output_type=Types.PICKLED_BYTE_ARRAY()) \
        .name("Parse and validate").uid("failures-parse")
    histories = runs.key_by(lambda run: run.suite_key, key_type=Types.STRING()) \
        .process(TestHistoryFunction(), output_type=Types.PICKLED_BYTE_ARRAY()) \
        .name("Test history and flakiness (tenant, suite)").uid("failures-test-history")
    signatures = histories.key_by(lambda run: run.signature_key, key_type=Types.STRING()) \
        .process(SignatureFunction(), output_type=Types.PICKLED_BYTE_ARRAY()) \
        .name("Signature aggregation (tenant, signature)").uid("failures-signatures")
    return signatures.union(histories.get_side_output(GRAPH_TAG)), runs.get_side_output(DLQ_TAG)


def build_pipeline(env: Any, settings: Settings, group_id: str = "argus-flink-failures",
                   neo4j: bool = True) -> None:
    prefix = settings.topic_prefix
    topics = [topic_for(EventType.TEST_FAILED, prefix), topic_for(EventType.TEST_EXECUTED, prefix)]
    records: DataStream = env.from_source(
        kafka_source(settings, topics, group_id), WatermarkStrategy.no_watermarks(),
        "Kafka: test.failed + test.executed", type_info=RECORD_TYPE,
    ).uid("failures-kafka-source")
    graph_rows, dead_letters = aggregate(records, prefix)
    graph_errors = AsyncDataStream.unordered_wait_with_retry(
        graph_rows, GraphWrite(settings, neo4j), GRAPH_WRITE_TIMEOUT, GRAPH_RETRY, GRAPH_CAPACITY, OUT_RECORD_TYPE,
    ).name("Graph upsert: FalkorDB + Neo4j (async)").uid("failures-graph-sink").disable_chaining()
    dead_letters.union(graph_errors) \
        .sink_to(kafka_sink(settings, transactional_id_prefix=f"{group_id}-dlq")) \
        .name("Kafka: argus.dlq").uid("failures-dlq-sink")


def main(argv: list[str] | None = None) -> None:
    args = job_parser(__doc__, "argus-flink-failures").parse_args(argv)
    env = create_env(args.parallelism)
    build_pipeline(env, job_settings(args), group_id=args.group_id)
    env.execute(JOB_NAME)


if __name__ == "__main__":
    main()
