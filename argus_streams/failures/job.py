"""Failure intelligence: test.failed + test.executed -> failure graph in FalkorDB and Neo4j, bad input -> DLQ.

    argus-streams job submit failures        (flink run -py jobs/failures.py on the session cluster)
"""

from __future__ import annotations

import functools
import json
import time
from collections.abc import Sequence
from typing import Any

from pyflink.common import Row, Time, Types, WatermarkStrategy
from pyflink.datastream import AsyncDataStream, AsyncFunction, DataStream
from pyflink.datastream.functions import KeyedProcessFunction, ProcessFunction, RuntimeContext
from pyflink.datastream.state import MapStateDescriptor, ValueStateDescriptor
from pyflink.java_gateway import get_gateway

from argus_streams.contract import dead_letters
from argus_streams.contract.events import EventType, topic_for
from argus_streams.errors import BadData
from argus_streams.failures.graph import INDEXES, UPSERT_EDGES, UPSERT_FAILURES, UPSERT_TESTS, GraphSink, WritePlan
from argus_streams.failures.logic import (
    TEST_RUN_FIELDS,
    Changed,
    TenantFailures,
    TenantKeyMismatch,
    parse_run,
    run_fields,
)
from argus_streams.flink.async_io import close_on_operator_loop, first_error_of, write_isolating_bad_rows
from argus_streams.flink.batching import MicroBatcher
from argus_streams.flink.counters import JobMetrics
from argus_streams.flink.kit import (
    BUNDLE_TIME_MS,
    DLQ_TAG,
    GRAPH_RETRY,
    OUT_RECORD_TYPE,
    RECORD_TYPE,
    TENANT_KEYED_DESERIALIZER_CLASS,
    TENANT_KEYED_RECORD_TYPE,
    create_env,
    dead_letter_row,
    job_parser,
    job_settings,
    kafka_sink,
    kafka_source,
    keyed_by_first_field,
    side_output,
    state_ttl,
)
from argus_streams.flink.spec import FAILURES as SPEC
from argus_streams.settings import Settings

GRAPH_WRITE_TIMEOUT = Time.minutes(15)  # transient outages are retried inside; this only catches hangs
GRAPH_CAPACITY = 100  # elements in flight, each one tenant's coalesced rows

# Changed entries of a tenant are written this long after the first change: the coalescing window (a key
# changed many times within it is one upsert) and the floor of the publish -> graph latency.
FLUSH_MS = 200
# Entries nobody updated for this long leave the state (a running worker's mirror keeps them until it
# restarts); the graph keeps what they said.
STATE_TTL = Time.days(30)
# State grows with every test, signature and (signature, test) pair a tenant has: RocksDB keeps it off the
# JVM heap (bounded by managed memory, spilling to disk) and checkpoints only what changed, so neither
# garbage collection nor checkpoints grow with the state (measured with the heap backend at 200k events:
# 42 s of GC on a 488 MB heap, events/s falling from 4,145 at 40k events to 1,699).
# Most lookups of a new signature or (signature, test) pair miss: without a bloom filter each miss read every
# level's index and data blocks (82% of the aggregator's time in RocksDB.get at 500,000 signatures).
STATE_BACKEND = {"state.backend.type": "rocksdb", "execution.checkpointing.incremental": "true",
                 "state.backend.rocksdb.use-bloom-filter": "true"}
# Per store, this many flushed tenants' rows share one UNWIND write (newest row per key).
BATCH_ELEMENTS = 64
# The sink only batches and awaits I/O (one write in flight per store, and FalkorDB runs a graph's writes on
# one thread): one subtask keeps up, and each subtask is a Python worker of its own (~300 MB).
SINK_PARALLELISM = 1


def entries_descriptor() -> MapStateDescriptor:
    descriptor = MapStateDescriptor("failure-entries", Types.STRING(), Types.PICKLED_BYTE_ARRAY())
    descriptor.enable_time_to_live(state_ttl(STATE_TTL))
    return descriptor


class AggregateFailures(KeyedProcessFunction):
    """Keyed by tenant: parse and validate (bad input to the DLQ side output), dedupe, test history and
    flakiness, signature and edge tallies, in one operator.

    The state is a MapState of flat entries (see TenantFailures), so an event reads and writes at most
    three small values whatever the size of a suite or a signature. Reads come from an in-memory mirror
    of the tenant's entries, loaded with one iteration the first time this instance sees the tenant
    (after a start, a restore or a rescale): no blocking state round trip per new key. Writes go through
    to the MapState (PyFlink commits each changed entry once per bundle).

    Rows are not emitted per event: the changed entries wait in keyed state (`pending`, so a restore
    re-emits what a checkpoint holds but the graph may not) until a processing-time timer FLUSH_MS after
    the first change, which emits one element, the tenant's coalesced upsert rows.
    """

    def __init__(self, prefix: str):
        self.prefix = prefix

    def open(self, runtime_context: RuntimeContext) -> None:
        self.entries = runtime_context.get_map_state(entries_descriptor())
        self.pending = runtime_context.get_state(ValueStateDescriptor("failure-pending", Types.PICKLED_BYTE_ARRAY()))
        self.mirrors: dict[str, dict[str, Any]] = {}
        self.pendings: dict[str, Changed] = {}
        # Tenants this worker registered a flush timer for that has not fired yet. Pending rows restored from a
        # checkpoint without a timer that fires would never be written (the TaskManager-kill test twice ended
        # with one tenant's rows unwritten; the cause is not proven): a tenant gets a timer with its first
        # event in this worker whatever its restored state, and a stray extra timer finds nothing to flush.
        self.armed: set[str] = set()
        self.metrics = JobMetrics(runtime_context.get_metrics_group())

    def _tenant(self, tenant: str) -> tuple[TenantFailures, Changed]:
        mirror = self.mirrors.get(tenant)
        if mirror is None:
            mirror = self.mirrors[tenant] = dict(self.entries.items())
        pending = self.pendings.get(tenant)
        if pending is None:
            pending = self.pendings[tenant] = self.pending.value() or {}
        return TenantFailures(tenant, mirror), pending

    def process_element(self, row: Row, ctx: KeyedProcessFunction.Context):  # noqa: ANN201
        record = dead_letters.SourceRecord.from_row(row)
        key = ctx.get_current_key()
        try:  # bad input of any kind is routed, with its context, never raised
            run = parse_run(record.value)
            if run.tenant_id != key:
                raise TenantKeyMismatch(f"the event's tenant_id {run.tenant_id!r} is not its key {key!r}")
        except Exception as exc:
            yield DLQ_TAG, dead_letter_row(record, exc, self.prefix, SPEC.source, self.metrics)
            return
        self.metrics.count("events", event_type=run.event_type)
        failures, pending = self._tenant(key)
        changed = failures.record(run)
        if changed is None:
            self.metrics.count("duplicates")
            return
        for entry in changed:
            self.entries.put(entry, failures.entries[entry])
        if key not in self.armed:
            timers = ctx.timer_service()
            timers.register_processing_time_timer(timers.current_processing_time() + FLUSH_MS)
            self.armed.add(key)
        pending.update(changed)
        self.pending.update(pending)

    def on_timer(self, timestamp: int, ctx: KeyedProcessFunction.OnTimerContext):  # noqa: ANN201
        self.armed.discard(ctx.get_current_key())
        failures, pending = self._tenant(ctx.get_current_key())
        if not pending:
            return
        rows = failures.rows(pending)
        pending.clear()
        self.pending.clear()
        if rows:
            yield rows


# The parsed run crossing from the Python parse step to the JVM aggregation: typed fields (Flink's row coder,
# no pickle), in the order FailureEntries.java reads them.
TEST_RUN_TYPE = Types.ROW_NAMED(
    list(TEST_RUN_FIELDS),
    [Types.STRING()] * 6 + [Types.BOOLEAN()] + [Types.STRING()] * 4,
)
AGGREGATIONS = ("jvm", "python")


class ParseRuns(ProcessFunction):
    """Parse and validate each (tenant key, record) row (bad input, a forged tenant included, to the DLQ side
    output) and hand the run on as typed fields to the JVM aggregation. Stateless and not keyed: it runs
    chained to the Kafka source, and the one shuffle by tenant is the JVM's, after it."""

    def __init__(self, prefix: str):
        self.prefix = prefix

    def open(self, runtime_context: RuntimeContext) -> None:
        self.metrics = JobMetrics(runtime_context.get_metrics_group())

    def process_element(self, row: Row, ctx: ProcessFunction.Context):  # noqa: ANN201
        key, record = row[0], dead_letters.SourceRecord.from_row(row[1])
        try:  # bad input of any kind is routed, with its context, never raised
            run = parse_run(record.value)
            if run.tenant_id != key:
                raise TenantKeyMismatch(f"the event's tenant_id {run.tenant_id!r} is not its key {key!r}")
            fields = run_fields(run, record.value)  # raises on text the JVM cannot take (a lone surrogate)
        except Exception as exc:
            yield DLQ_TAG, dead_letter_row(record, exc, self.prefix, SPEC.source, self.metrics)
            return
        self.metrics.count("events", event_type=run.event_type)
        yield Row(*fields)


class GraphWrite(AsyncFunction):
    """Each element (a tenant's coalesced rows) upserted into FalkorDB and Neo4j at once, each store
    through its own micro-batcher: one write in flight per store, and the elements that arrive meanwhile
    share the next UNWIND (newest row per key). Rows that are bad data come back as DLQ records.

    Transient database errors are retried inside (backpressure: the async queue fills, the source
    slows) and never reach the DLQ. Async I/O cannot emit side outputs, so failures are returned.
    """

    def __init__(self, settings: Settings, neo4j: bool = True):
        self.settings = settings
        self.neo4j = neo4j
        self._sink: GraphSink | None = None
        self._batchers: list[MicroBatcher[list[dict]]] = []

    def open(self, runtime_context: RuntimeContext) -> None:
        self._sink, self._batchers = None, []  # created on the operator's event loop, at first use
        self.metrics = JobMetrics(runtime_context.get_metrics_group())

    async def _write_batch(self, writer: Any, elements: Sequence[list[dict]]) -> None:
        started, store = time.perf_counter(), type(writer).__name__
        plan = WritePlan.of([row for rows in elements for row in rows])
        await GraphSink.write_to(writer, plan)
        elapsed_ms = round((time.perf_counter() - started) * 1000)
        self.metrics.count("graph_write_batches")
        self.metrics.count("graph_write_rows", len(plan.failures) + len(plan.edges) + len(plan.tests), store=store)
        self.metrics.count("graph_write_ms", elapsed_ms)  # rate(ms) / rate(batches) = mean batch latency
        self.metrics.gauge("graph_write_last_ms", elapsed_ms, store=store)

    async def async_invoke(self, element: str | list[dict]) -> list:
        rows = json.loads(element) if isinstance(element, str) else element  # JVM aggregation: a JSON array
        if self._sink is None:
            self._sink = GraphSink(self.settings, neo4j=self.neo4j)
            self._batchers = [MicroBatcher(functools.partial(self._write_batch, writer), max_size=BATCH_ELEMENTS,
                                           max_delay_s=0) for writer in self._sink.writers]
        sink = self._sink
        return await write_isolating_bad_rows(
            lambda: first_error_of(*(batcher.submit(rows) for batcher in self._batchers)), rows, sink.write,
            lambda row, error: graph_error_row(row, error, self.settings.topic_prefix, self.metrics))

    def close(self) -> None:
        close_on_operator_loop(self._sink)


class GraphWriteRefused(BadData):
    """A store refused a graph row as data (a query error), in the JVM graph sink: the message names the store
    and the client's error."""


class GraphRefusals(ProcessFunction):
    """The JVM graph sink's refused rows (row JSON, store, error type, message) -> DLQ records. Idle unless a
    store refuses a row; in thread mode it costs no worker process."""

    def __init__(self, prefix: str):
        self.prefix = prefix

    def open(self, runtime_context: RuntimeContext) -> None:
        self.metrics = JobMetrics(runtime_context.get_metrics_group())

    def process_element(self, refused: Row, ctx: ProcessFunction.Context):  # noqa: ANN201
        error = GraphWriteRefused(f"{refused[1]} refused the row: {refused[2]}: {refused[3]}")
        yield graph_error_row(json.loads(refused[0]), error, self.prefix, self.metrics)


def graph_error_row(row: dict, error: BaseException, prefix: str, metrics: JobMetrics | None = None) -> Row:
    """A graph upsert the databases refused: no Kafka record stands behind it, so its row is the value."""
    record = dead_letters.SourceRecord(
        topic=topic_for(EventType.TEST_FAILED, prefix), partition=None, offset=None,
        key=row.get("suite_id"), value=json.dumps(row).encode(), headers={"tenant_id": row["tenant_id"]},
    )
    return dead_letter_row(record, error, prefix, SPEC.source, metrics)


def aggregate(records: DataStream, prefix: str, aggregation: str = "jvm") -> tuple[DataStream, DataStream]:
    """(tenant key, Kafka record) rows -> (graph upsert elements, DLQ records): all but the I/O at both ends.

    The key comes from the JVM (TenantKeyedRecordDeserializer), so Flink shuffles by tenant with no Python
    key selector. `jvm` (the default): one Python operator parses and validates (a stateless crossing per
    record), and the JVM's FailureAggregator keeps the state and emits each tenant's changed entries as a
    JSON array. `python`: one Python operator parses, validates and aggregates (AggregateFailures; the
    design before, kept to measure against). Either way the graph sink sees one element per tenant per
    FLUSH_MS, not one per event.
    """
    if aggregation == "python":
        graph_rows = keyed_by_first_field(records, RECORD_TYPE) \
            .process(AggregateFailures(prefix), output_type=Types.PICKLED_BYTE_ARRAY()) \
            .name("Parse, validate and aggregate per tenant: history, flakiness, signatures") \
            .uid(SPEC.uid("aggregate-v2"))
        return graph_rows, side_output(graph_rows, DLQ_TAG)
    runs = records.process(ParseRuns(prefix), output_type=TEST_RUN_TYPE) \
        .name("Parse and validate: test runs, bad input to the DLQ").uid(SPEC.uid("parse-v1"))
    aggregator = get_gateway().jvm.io.argus.streams.flink.FailureAggregator
    graph_rows = DataStream(aggregator.aggregate(runs._j_data_stream))
    return graph_rows, side_output(runs, DLQ_TAG)


def jvm_sink_arguments(settings: Settings, neo4j: bool = True) -> tuple:
    """FailureGraphSink.write's arguments after the stream: the stores, and graph.py's statements and indexes."""
    gateway = get_gateway()

    def strings(values: Sequence[str]) -> Any:
        array = gateway.new_array(gateway.jvm.String, len(values))
        for index, value in enumerate(values):
            array[index] = value
        return array

    return (settings.falkordb_url.get_secret_value(), settings.falkordb_graph, settings.neo4j_uri,
            settings.neo4j_user, settings.neo4j_password.get_secret_value(), neo4j,
            strings([UPSERT_FAILURES, UPSERT_EDGES, UPSERT_TESTS]),
            strings([f"{label}:{','.join(props)}" for label, props in INDEXES]))


def jvm_graph_sink(graph_rows: DataStream, settings: Settings, neo4j: bool = True,
                   parallelism: int | None = None) -> DataStream:
    """The graph sink in the JVM (FailureGraphSink.java: a writer thread per store, both stores side by side, the
    statements and indexes of graph.py), its refused rows turned into DLQ records."""
    refused = DataStream(get_gateway().jvm.io.argus.streams.flink.FailureGraphSink.write(
        graph_rows._j_data_stream, *jvm_sink_arguments(settings, neo4j), parallelism or 0))
    letters = refused.process(GraphRefusals(settings.topic_prefix), output_type=OUT_RECORD_TYPE) \
        .name("Refused graph rows to the DLQ").uid(SPEC.uid("graph-refusals-v1"))
    if parallelism:
        letters = letters.set_parallelism(parallelism)
    return letters


SINKS = ("python", "jvm")


def build_pipeline(env: Any, settings: Settings, group_id: str = SPEC.default_group,
                   neo4j: bool = True, sink_parallelism: int | None = None, aggregation: str = "jvm",
                   sink: str = "jvm") -> None:
    prefix = settings.topic_prefix
    topics = [topic_for(EventType.TEST_FAILED, prefix), topic_for(EventType.TEST_EXECUTED, prefix)]
    records: DataStream = env.from_source(
        kafka_source(settings, topics, group_id, TENANT_KEYED_DESERIALIZER_CLASS), WatermarkStrategy.no_watermarks(),
        "Kafka: test.failed + test.executed", type_info=TENANT_KEYED_RECORD_TYPE,
    ).uid(SPEC.uid("kafka-source"))
    graph_rows, dead_letters = aggregate(records, prefix, aggregation)
    if sink == "jvm":
        graph_errors = jvm_graph_sink(graph_rows, settings, neo4j, sink_parallelism)
    else:
        graph_errors = python_graph_sink(graph_rows, settings, neo4j, sink_parallelism)
    dead_letters.union(graph_errors) \
        .sink_to(kafka_sink(settings, transactional_id_prefix=f"{group_id}-dlq")) \
        .name("Kafka: argus.dlq").uid(SPEC.uid("dlq-sink"))


def python_graph_sink(graph_rows: DataStream, settings: Settings, neo4j: bool = True,
                      parallelism: int | None = None) -> DataStream:
    """The graph sink in Python (GraphWrite in async I/O; the design before): `--sink python`, and the only sink
    `--aggregation python` takes."""
    graph_errors = AsyncDataStream.unordered_wait_with_retry(
        graph_rows, GraphWrite(settings, neo4j), GRAPH_WRITE_TIMEOUT, GRAPH_RETRY, GRAPH_CAPACITY, OUT_RECORD_TYPE,
    ).name("Graph upsert: FalkorDB + Neo4j (async)").uid(SPEC.uid("graph-sink")).disable_chaining()
    if parallelism:
        graph_errors = graph_errors.set_parallelism(parallelism)
    return graph_errors


def main(argv: list[str] | None = None) -> None:
    parser = job_parser(__doc__, SPEC.default_group)
    parser.add_argument("--sink-parallelism", type=int, default=SINK_PARALLELISM,
                        help=f"subtasks of the graph sink (default {SINK_PARALLELISM}; 0: the job's parallelism)")
    parser.add_argument("--bundle-time-ms", type=int, default=BUNDLE_TIME_MS,
                        help=f"longest a bundle of records waits before Python hands its results on "
                             f"(python.fn-execution.bundle.time; default {BUNDLE_TIME_MS})")
    parser.add_argument("--aggregation", choices=AGGREGATIONS, default="jvm",
                        help="where the keyed aggregation runs: jvm (default; Python parses) or python (one Python "
                             "operator parses and aggregates, the design before)")
    parser.add_argument("--sink", choices=SINKS, default=None,
                        help="where the graph sink runs: jvm (FailureGraphSink; the default with --aggregation jvm: "
                             "the job then has no Python worker process) or python (async I/O in a Python worker; "
                             "the design before, and the only sink --aggregation python takes)")
    parser.add_argument("--python-mode", choices=("thread", "process"), default=None,
                        help="where the Python operators run (python.execution-mode): thread, inside the TaskManager "
                             "(the default with --sink jvm: no worker processes), or process (a worker process per "
                             "operator chain; the only mode a Python sink runs in: PyFlink runs async I/O only there)")
    args = parser.parse_args(argv)
    args.sink = args.sink or ("jvm" if args.aggregation == "jvm" else "python")
    if args.sink == "jvm" and args.aggregation == "python":
        parser.error("--sink jvm takes the JVM aggregation's rows: use it with --aggregation jvm")
    mode = args.python_mode or ("thread" if args.sink == "jvm" else "process")
    if mode == "thread" and args.sink == "python":
        parser.error("a Python sink needs --python-mode process (PyFlink runs async I/O only there)")
    env = create_env(args.parallelism, {**STATE_BACKEND, "python.fn-execution.bundle.time": str(args.bundle_time_ms),
                                        "python.execution-mode": mode})
    settings = job_settings(args, SPEC.name)
    build_pipeline(env, settings, group_id=args.group_id, sink_parallelism=args.sink_parallelism or None,
                   aggregation=args.aggregation, sink=args.sink)
    env.execute(SPEC.flink_name(args.group_id, settings.topic_prefix))


if __name__ == "__main__":
    main()
