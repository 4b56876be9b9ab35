"""Knowledge graph: how fast a real codebase (this repository) is extracted, and re-ingested after a one-file change.

    .venv/bin/python -m bench.knowledge_graph_throughput                 # extraction only (no servers)
    make up && .venv/bin/python -m bench.knowledge_graph_throughput --stores   # + load, re-ingest, vectors

Extraction: every source file of the repository (as the job reads a codebase: node_modules, .venv, .state,
target... skipped), parsed and resolved, median of --rounds; files/s and entities/s. Cognify (ids, hashes)
is timed separately. With --stores, a copy of the repository is loaded into FalkorDB and Neo4j (a graph
and tenant of its own, removed at the end), one file of it is edited, and the re-ingest (extract + cognify
+ diff against both stores + the writes) is timed: what the job spends on one codebase.ingested event.
Embeddings: the model's load time and entities/s over the repository's classes and functions; with
--stores, the vector sync (first, again, after the edit) and "which code is like X" over --vectors rows
in PostgreSQL (exact search in one tenant's project, other tenants' rows beside it), against a numpy
brute-force search over the same vectors in this process.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import shutil
import statistics
import tempfile
import time
import uuid
from pathlib import Path

import numpy as np
import psycopg2.extras
from argus_dev.stack.base import REPO_ROOT

from argus_streams.knowledge_graph import analyze, cognify, extract_codebase
from argus_streams.knowledge_graph.embed import DIM, MODEL_NAME, embed, embeddable, model
from argus_streams.knowledge_graph.store import CodeGraphSink
from argus_streams.knowledge_graph.vectors import CodeVectorStore, vector_literal
from argus_streams.settings import Settings

EDITED_FILE = "argus_streams/flink/batching.py"


def timed(action, rounds: int):  # noqa: ANN001, ANN201
    results, times = None, []
    for _ in range(rounds):
        started = time.perf_counter()
        results = action()
        times.append(time.perf_counter() - started)
    return results, statistics.median(times)


def bench_extraction(root: Path, rounds: int) -> None:
    extraction, seconds = timed(lambda: extract_codebase(root), rounds)
    files, entities = len(extraction.files), sum(1 for kind, _ in extraction.entities if kind != "file")
    lines = sum(p.read_bytes().count(b"\n") for p in (root / f.path for f in extraction.files))
    print(f"extract {root}: {files} files ({lines:,} lines), {entities} entities, {len(extraction.relations)} "
          f"edges, {len(extraction.parse_errors)} parse errors")
    print(f"  extract: {seconds:.3f} s (median of {rounds}) = {files / seconds:,.0f} files/s, "
          f"{entities / seconds:,.0f} entities/s, {lines / seconds:,.0f} lines/s")
    graph, cognify_s = timed(lambda: cognify(extraction, "bench", "self", str(root)), rounds)
    print(f"  cognify (ids, hashes): {cognify_s * 1000:.0f} ms for {len(graph.nodes)} nodes, {len(graph.edges)} edges")


def bench_embeddings(root: Path, rounds: int) -> None:
    started = time.perf_counter()
    model()
    load_s = time.perf_counter() - started
    graph, extraction = analyze(root.name, root.parent, "bench", "self")
    texts = [row.text for row in embeddable(graph, extraction).values()]
    _, seconds = timed(lambda: embed(texts), rounds)
    print(f"embed ({MODEL_NAME}): model load {load_s:.2f} s; {len(texts)} classes and functions in "
          f"{seconds * 1000:.0f} ms (median of {rounds}) = {len(texts) / seconds:,.0f} entities/s")


def bench_vector_sync(store: CodeVectorStore, tmp: str, tenant: str, project: str, label: str) -> None:
    started = time.perf_counter()
    graph, extraction = analyze("self", tmp, tenant, project)
    analyzed = time.perf_counter()
    written = store.sync(graph, extraction)
    print(f"  vectors, {label}: {time.perf_counter() - analyzed:.2f} s after extract "
          f"({analyzed - started:.2f} s); {written.written} embedded and written, {written.deleted} deleted")


def bench_nearest(settings: Settings, rows: int, queries: int) -> None:
    """`nearest` over `rows` vectors of one project, with as many of other tenants beside them."""
    store = CodeVectorStore.from_settings(settings, schema=f"bench_vectors_{uuid.uuid4().hex[:8]}")
    rng = np.random.default_rng(7)
    vectors = rng.standard_normal((rows, DIM)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    try:
        store.ensure_schema()
        started = time.perf_counter()
        with store._cursor() as cur:  # noqa: SLF001 - a bulk load for the benchmark only
            for tenant in ("bench", "other"):
                values = [(tenant, f"e{i}", "big", "function", f"f.py::f{i}", f"f{i}", "f.py", "h", MODEL_NAME,
                           vector_literal(vectors[i])) for i in range(rows)]
                psycopg2.extras.execute_values(
                    cur, store._sql("INSERT INTO {table} (tenant_id, entity_id, project_id, kind, qname, name, "  # noqa: SLF001
                                    "path, hash, model, embedding) VALUES %s"),
                    values, template="(%s, %s, %s, %s, %s, %s, %s, %s, %s, %s::vector)", page_size=1000)
            cur.execute(store._sql("ANALYZE {table}"))  # noqa: SLF001
        print(f"  nearest: {2 * rows:,} rows loaded in {time.perf_counter() - started:.1f} s")
        probes = vectors[rng.choice(rows, queries, replace=False)]
        db_ms, numpy_ms, agree = [], [], 0
        for probe in probes:
            started = time.perf_counter()
            found = store.nearest("bench", probe, "big", limit=10)
            db_ms.append((time.perf_counter() - started) * 1000)
            started = time.perf_counter()
            brute = np.argsort(-(vectors @ probe), kind="stable")[:10]
            numpy_ms.append((time.perf_counter() - started) * 1000)
            agree += [row["qname"] for row in found] == [f"f.py::f{i}" for i in brute]
        db, brute_ms = statistics.median(db_ms), statistics.median(numpy_ms)
        print(f"  nearest 10 of {rows:,} (one tenant's project; {rows:,} other-tenant rows beside): "
              f"PostgreSQL {db:.1f} ms median, p95 {sorted(db_ms)[int(0.95 * len(db_ms))]:.1f} ms over {queries} "
              f"queries; numpy brute force in-process {brute_ms:.1f} ms ({db / brute_ms:.1f}x); "
              f"same top 10 in {agree}/{queries}")
    finally:
        store.drop()
        store.close()


async def bench_stores(settings: Settings, root: Path) -> None:
    tenant, project = f"bench-{uuid.uuid4().hex[:8]}", "self"
    with tempfile.TemporaryDirectory() as tmp:
        copy = Path(tmp) / "self"
        shutil.copytree(root, copy, ignore=shutil.ignore_patterns(".git", ".venv", ".state", "target", ".cache",
                                                                  "node_modules", "*.egg-info"))
        sink = CodeGraphSink(settings)
        vectors = CodeVectorStore.from_settings(settings, schema=f"bench_vectors_{uuid.uuid4().hex[:8]}")
        try:
            bench_vector_sync(vectors, tmp, tenant, project, "first load")
            bench_vector_sync(vectors, tmp, tenant, project, "same codebase again")
            for what in ("first load", "same codebase again"):
                started = time.perf_counter()
                graph, _ = analyze("self", tmp, tenant, project)
                changes = await sink.sync(graph)
                print(f"  {what}: {time.perf_counter() - started:.2f} s ({len(changes.nodes)} nodes, "
                      f"{len(changes.edges)} edges written)")
            edited = copy / EDITED_FILE
            edited.write_text(edited.read_text().replace("self.flushes += 1", "self.flushes = self.flushes + 1"))
            started = time.perf_counter()
            graph, _ = analyze("self", tmp, tenant, project)
            analyzed = time.perf_counter()
            changes = await sink.sync(graph)
            done = time.perf_counter()
            print(f"  re-ingest after editing {EDITED_FILE}: {done - started:.2f} s (extract + cognify "
                  f"{analyzed - started:.2f} s, diff + writes in both stores {done - analyzed:.2f} s); "
                  f"{len(changes.nodes)} nodes, {len(changes.edges)} edges written, "
                  f"{len(changes.gone_nodes)} nodes deleted")
            bench_vector_sync(vectors, tmp, tenant, project, f"after editing {EDITED_FILE}")
        finally:
            vectors.drop()
            vectors.close()
            for writer in sink.writers:  # leave nothing behind
                await writer.apply([(f"MATCH (n:{label} {{tenant_id: $tenant}}) DETACH DELETE n", {"tenant": tenant})
                                    for label in ("Project", "File", "Class", "Function", "Test")])
            await sink.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", type=Path, default=REPO_ROOT, help="the codebase (default: this repository)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--stores", action="store_true", help="also load and re-ingest into FalkorDB and Neo4j")
    parser.add_argument("--graph", default="bench-knowledge-graph", help="FalkorDB graph for --stores")
    parser.add_argument("--vectors", type=int, default=20_000, help="rows per tenant for the nearest search")
    parser.add_argument("--queries", type=int, default=50)
    args = parser.parse_args()
    logging.getLogger("neo4j.notifications").setLevel(logging.ERROR)  # "index already exists" on every run
    bench_extraction(args.root, args.rounds)
    bench_embeddings(args.root, args.rounds)
    if args.stores:
        settings = Settings.load().as_principal("admin").model_copy(update={"falkordb_graph": args.graph})
        print(f"stores (FalkorDB graph {args.graph}, Neo4j {settings.neo4j_uri}):")
        asyncio.run(bench_stores(settings, args.root))
        bench_nearest(settings, args.vectors, args.queries)


if __name__ == "__main__":
    main()
