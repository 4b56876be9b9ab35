"""Knowledge graph: how fast a real codebase (this repository) is extracted, and re-ingested after a one-file change.

    .venv/bin/python -m bench.knowledge_graph_throughput                 # extraction only (no servers)
    make up && .venv/bin/python -m bench.knowledge_graph_throughput --stores   # + load and re-ingest in both stores

Extraction: every source file of the repository (as the job reads a codebase: node_modules, .venv, .state,
target... skipped), parsed and resolved, median of --rounds; files/s and entities/s. Cognify (ids, hashes)
is timed separately. With --stores, a copy of the repository is loaded into FalkorDB and Neo4j (a graph
and tenant of its own, removed at the end), one file of it is edited, and the re-ingest (extract + cognify
+ diff against both stores + the writes) is timed: what the job spends on one codebase.ingested event.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import statistics
import tempfile
import time
import uuid
from pathlib import Path

from argus_streams.codegraph import analyze, cognify, extract_codebase
from argus_streams.codegraph.store import CodeGraphSink
from argus_streams.settings import Settings
from argus_streams.stack.base import REPO_ROOT

EDITED_FILE = "argus_streams/batching.py"


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


async def bench_stores(settings: Settings, root: Path) -> None:
    tenant, project = f"bench-{uuid.uuid4().hex[:8]}", "self"
    with tempfile.TemporaryDirectory() as tmp:
        copy = Path(tmp) / "self"
        shutil.copytree(root, copy, ignore=shutil.ignore_patterns(".git", ".venv", ".state", "target", ".cache",
                                                                  "node_modules", "*.egg-info"))
        sink = CodeGraphSink(settings)
        try:
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
        finally:
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
    args = parser.parse_args()
    bench_extraction(args.root, args.rounds)
    if args.stores:
        settings = Settings.load().model_copy(update={"falkordb_graph": args.graph})
        print(f"stores (FalkorDB graph {args.graph}, Neo4j {settings.neo4j_uri}):")
        asyncio.run(bench_stores(settings, args.root))


if __name__ == "__main__":
    main()
