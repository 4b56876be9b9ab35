"""The code knowledge graph: Extract (ast, tree-sitter) -> Cognify (stable ids, hashes) -> Load (FalkorDB, Neo4j).

    analyze(codebase_path, root, tenant, project) -> (CodeGraph, Extraction)   pure, no database; bounded
    CodeGraphSink(settings).sync(graph)                                          diff + batched writes
"""

from __future__ import annotations

from pathlib import Path

from argus_streams.knowledge_graph.cognify import CodeGraph, GraphDiff, cognify, diff, stable_id
from argus_streams.knowledge_graph.extract import extract_codebase
from argus_streams.knowledge_graph.frames import stack_frames
from argus_streams.knowledge_graph.model import Extraction
from argus_streams.knowledge_graph.paths import (
    EXTRACTION_DEADLINE_S,
    CodebaseError,
    CodebaseNotFound,
    Deadline,
    ExtractionTimeout,
    PathRefused,
    resolve_codebase,
    tenant_root,
)


def analyze(codebase_path: str, root: str | Path, tenant: str, project: str,
            deadline_s: float = EXTRACTION_DEADLINE_S) -> tuple[CodeGraph, Extraction]:
    """Refuse a path outside `root` before reading anything, then extract and cognify the codebase within the
    caps of paths.py; past `deadline_s` raises ExtractionTimeout (a CodebaseError: the event's, to the DLQ)."""
    base = resolve_codebase(codebase_path, root)
    extraction = extract_codebase(base, Deadline(deadline_s))
    return cognify(extraction, tenant, project, codebase_path), extraction


__all__ = [
    "CodeGraph", "CodebaseError", "CodebaseNotFound", "Extraction", "ExtractionTimeout", "GraphDiff", "PathRefused",
    "analyze",
    "cognify", "diff", "extract_codebase", "resolve_codebase", "stable_id", "stack_frames", "tenant_root",
]
