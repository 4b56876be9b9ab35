"""Knowledge graph: codebase.ingested + test.created + test.failed -> code graph in FalkorDB and Neo4j.

    argus-streams job submit knowledge-graph     (flink run -py jobs/knowledge_graph.py on the session cluster)

Extract -> Cognify -> Load runs in async I/O (argus_streams/knowledge_graph), then each class and function is
embedded into PostgreSQL/pgvector (codegraph/vectors.py; --no-embeddings to skip); each ingested codebase yields a
codebase.analyzed event, bad input and refused paths a dead letter, both through one Kafka sink.
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pyflink.common import Row, Time, Types, WatermarkStrategy
from pyflink.datastream import AsyncDataStream, AsyncFunction, DataStream
from pyflink.datastream.functions import RuntimeContext

from argus_streams.contract.events import EventType, topic_for
from argus_streams.errors import OperationTimeout
from argus_streams.flink.async_io import close_on_operator_loop, write_isolating_bad_rows
from argus_streams.flink.batching import MicroBatcher
from argus_streams.flink.counters import JobMetrics
from argus_streams.flink.kit import (
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
from argus_streams.flink.spec import KNOWLEDGE_GRAPH as SPEC
from argus_streams.knowledge_graph import analyze, resolve_codebase, tenant_root
from argus_streams.knowledge_graph.enrich import CogneeEnricher, documents, enrich_graph
from argus_streams.knowledge_graph.logic import SOURCE, KeyLocks, Request, analyzed_event, graph_row, parse_request
from argus_streams.knowledge_graph.store import CodeGraphSink, created_statements, failed_statements
from argus_streams.knowledge_graph.vectors import CodeVectorStore, VectorDiff
from argus_streams.settings import Settings
from argus_streams.stores.policy import is_data_error, retry_transient

GRAPH_WRITE_TIMEOUT = Time.minutes(15)  # a big codebase is extracted and written in one call
GRAPH_CAPACITY = 100


class KnowledgeGraphLoad(AsyncFunction):
    """Codebases: extract + cognify in a thread, then the diff against each store and the code vectors
    (embedded in a thread, PostgreSQL/pgvector). Tests: batched links.

    One codebase event per project at a time (a per-key lock: the stream is keyed by project, so one
    subtask owns a project and its diffs never race). Returns codebase.analyzed records and dead letters.
    """

    def __init__(self, settings: Settings, neo4j: bool = True, embeddings: bool = True):
        self.settings = settings
        self.neo4j = neo4j
        self.embeddings = embeddings

    def open(self, runtime_context: RuntimeContext) -> None:
        self._sink: CodeGraphSink | None = None  # created on the operator's event loop, at first use
        self._vectors = CodeVectorStore.from_settings(self.settings) if self.embeddings else None
        self._enricher: CogneeEnricher | None = None
        if self.settings.cognee_python:
            if not Path(self.settings.cognee_python).exists():  # configuration: fail now, not per event
                raise FileNotFoundError(f"COGNEE_PYTHON {self.settings.cognee_python} does not exist (make cognee)")
            self._enricher = CogneeEnricher(self.settings.cognee_python, self.settings.cognee_env_file)
        self._batcher: MicroBatcher[dict] | None = None
        self._locks = KeyLocks()  # bounded by the requests in flight (a plain dict kept every project forever)
        self.metrics = JobMetrics(runtime_context.get_metrics_group())

    def _ready(self) -> tuple[CodeGraphSink, MicroBatcher[dict]]:
        if self._sink is None or self._batcher is None:
            self._sink = CodeGraphSink(self.settings, neo4j=self.neo4j)
            self._batcher = MicroBatcher(self._write_tests)
        return self._sink, self._batcher

    async def _write_tests(self, rows: Sequence[dict]) -> None:
        sink, _ = self._ready()
        created = [r for r in rows if r["kind"] == "created"]
        failed = [r for r in rows if r["kind"] == "failed"]
        statements = (created_statements(created) if created else []) + (failed_statements(failed) if failed else [])
        await sink.apply(statements)
        self.metrics.count("graph_write_rows", len(rows))

    @staticmethod
    def _request(value: Any) -> Request:
        return value[1] if isinstance(value, Row) else value  # keyed input: Row(key, value)

    async def async_invoke(self, value: Any) -> list:
        request = self._request(value)
        if request.kind is EventType.CODEBASE_INGESTED:
            async with self._locks.hold(request.key):
                return await self._codebase(request)
        return await self._test(request)

    async def _codebase(self, request: Request) -> list:
        sink, _ = self._ready()
        started = time.perf_counter()
        payload = request.payload
        try:
            # Each tenant reads only its own folder, CODEBASE_ROOT/<tenant_id>: never another tenant's checkout.
            root = tenant_root(self.settings.codebase_root, request.event.tenant_id)
            graph, extraction = await asyncio.get_running_loop().run_in_executor(None, functools.partial(
                analyze, payload.codebase_path, root, request.event.tenant_id, payload.project_id))
        except Exception as exc:  # extraction reads only the record's codebase, never a store:
            # refused, missing, past EXTRACTION_DEADLINE_S (CodebaseError) or anything the codebase does to the
            # extractor is the event's. Raising would fail the task and replay the same record: a crash loop.
            return [self._dead_letter(request, exc)]
        try:
            enriched = await self._enrich(graph, payload.codebase_path)
            changes = await sink.sync(graph)
            vectors = await self._sync_vectors(graph, extraction)
        except Exception as exc:
            if not is_data_error(exc):
                raise  # a store down past the retry deadline: fail the task, restart from the checkpoint
            return [self._dead_letter(request, exc)]
        elapsed_ms = (time.perf_counter() - started) * 1000
        event = analyzed_event(request, graph, extraction, changes, elapsed_ms, vectors, enriched)
        self.metrics.count("codebases_analyzed")
        self.metrics.count("embeddings_written", vectors.written)
        self.metrics.count("parse_errors", event.payload["parse_errors"])
        self.metrics.gauge("codebase_last_ms", round(elapsed_ms))
        headers = {"tenant_id": event.tenant_id, "correlation_id": event.correlation_id, "source": SOURCE}
        return [Row(event.topic(self.settings.topic_prefix), event.payload["project_id"], event.to_json(), headers)]

    async def _enrich(self, graph: Any, codebase_path: str) -> dict[str, int] | None:
        """With Cognee configured: its Document and Concept nodes join the graph before the diff."""
        enricher = self._enricher
        if enricher is None:
            return None
        loop = asyncio.get_running_loop()
        base = resolve_codebase(codebase_path, tenant_root(self.settings.codebase_root, graph.tenant))
        docs = await loop.run_in_executor(None, documents, base)
        enrichment = await retry_transient(lambda: enricher.enrich(graph.tenant, graph.project, docs),
                                           what="cognee enrichment")
        enrich_graph(graph, enrichment, docs)
        self.metrics.count("concepts", len(enrichment.entities))
        return {"documents": len(docs), "concepts": sum(1 for n in graph.nodes.values() if n.label == "Concept")}

    async def _sync_vectors(self, graph: Any, extraction: Any) -> VectorDiff:
        """After the graph: embed the new and changed classes and functions (a thread: numpy and psycopg2)."""
        store = self._vectors
        if store is None:
            return VectorDiff()
        loop = asyncio.get_running_loop()
        return await retry_transient(lambda: loop.run_in_executor(None, store.sync, graph, extraction),
                                     what="code vectors (PostgreSQL)")

    async def _test(self, request: Request) -> list:
        _, batcher = self._ready()
        try:
            row = graph_row(request)
        except ValueError as exc:
            return [self._dead_letter(request, exc)]
        return await write_isolating_bad_rows(lambda: batcher.submit(row), [row], self._write_tests,
                                              lambda _, error: self._dead_letter(request, error))

    def timeout(self, value: Any) -> list:
        """Called by PyFlink (on a timer thread) when a record ran past GRAPH_WRITE_TIMEOUT. Its default
        raises: the task fails and meets the same record after the restart, so a store that hangs or a codebase
        that takes longer would crash-loop the job. The record goes to the DLQ as an OperationTimeout, which
        the DLQ job retries with backoff (review after max retries). The call itself may still finish: graph
        writes are diffs and MERGEs, so the retry repeats nothing; the project's lock orders the two."""
        request = self._request(value)
        seconds = GRAPH_WRITE_TIMEOUT.to_milliseconds() // 1000
        error = OperationTimeout(f"{request.kind.value} {request.key!r} not handled within {seconds} s")
        return [self._dead_letter(request, error, retryable=True)]

    def _dead_letter(self, request: Request, error: BaseException, retryable: bool = False) -> Row:
        return dead_letter_row(request.record, error, self.settings.topic_prefix, SOURCE, self.metrics, retryable)

    def close(self) -> None:
        if self._vectors is not None:
            self._vectors.close()
        close_on_operator_loop(self._enricher)  # the Cognee worker also exits when its stdin closes
        close_on_operator_loop(self._sink)


def build_pipeline(env: Any, settings: Settings, group_id: str = SPEC.default_group,
                   neo4j: bool = True, embeddings: bool = True) -> None:
    prefix = settings.topic_prefix
    topics = [topic_for(t, prefix) for t in (EventType.CODEBASE_INGESTED, EventType.TEST_CREATED,
                                             EventType.TEST_FAILED)]
    records: DataStream = env.from_source(
        kafka_source(settings, topics, group_id), WatermarkStrategy.no_watermarks(),
        "Kafka: codebase.ingested + test.created + test.failed", type_info=RECORD_TYPE,
    ).uid(SPEC.uid("kafka-source"))
    parse = ParseRecords(prefix, SOURCE, parse_request, lambda request: request.kind.value.replace(".", "_"))
    requests = records.process(parse, output_type=Types.PICKLED_BYTE_ARRAY()) \
        .name("Parse and validate").uid(SPEC.uid("parse"))
    keyed = requests.key_by(lambda request: request.key, key_type=Types.STRING())
    outputs = AsyncDataStream.unordered_wait_with_retry(
        keyed, KnowledgeGraphLoad(settings, neo4j, embeddings), GRAPH_WRITE_TIMEOUT, GRAPH_RETRY, GRAPH_CAPACITY,
        OUT_RECORD_TYPE,
    ).name("Extract, cognify, load: FalkorDB + Neo4j + pgvector (async, by project / suite)") \
        .uid(SPEC.uid("load")).disable_chaining()
    outputs.union(requests.get_side_output(DLQ_TAG)) \
        .sink_to(kafka_sink(settings, transactional_id_prefix=f"{group_id}-out")) \
        .name("Kafka: codebase.analyzed + argus.dlq").uid(SPEC.uid("sink"))


def main(argv: list[str] | None = None) -> None:
    parser = job_parser(__doc__, SPEC.default_group)
    parser.add_argument("--codebase-root", help="read codebases only under this directory (default: $CODEBASE_ROOT)")
    parser.add_argument("--cognee-python", help="enrich with Cognee run by this Python (default: $COGNEE_PYTHON)")
    parser.add_argument("--cognee-env-file", help="Cognee's LLM_*/EMBEDDING_* settings (default: $COGNEE_ENV_FILE)")
    parser.add_argument("--no-embeddings", dest="embeddings", action="store_false",
                        help="do not embed classes and functions into PostgreSQL (code_embeddings, pgvector)")
    # One slot by default: codebases arrive seldom, and the local cluster's 8 slots hold the other three
    # jobs at parallelism 2 plus this one with a slot to spare (the stack's health check wants a free slot).
    # deploy/k8s/flink-knowledge-graph.yaml passes --parallelism 2.
    parser.set_defaults(parallelism=1)
    args = parser.parse_args(argv)
    settings = job_settings(args, SPEC.name)
    overrides = {"codebase_root": args.codebase_root, "cognee_python": args.cognee_python,
                 "cognee_env_file": args.cognee_env_file}
    settings = settings.model_copy(update={k: v for k, v in overrides.items() if v})
    env = create_env(args.parallelism)
    build_pipeline(env, settings, group_id=args.group_id, embeddings=args.embeddings)
    env.execute(SPEC.flink_name(args.group_id, settings.topic_prefix))


if __name__ == "__main__":
    main()
