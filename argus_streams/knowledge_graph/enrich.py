"""Optional Cognee enrichment: a codebase's documents -> Document and Concept nodes linked to its code.

    enricher = CogneeEnricher(python=".venv-cognee/bin/python", env_file="cognee.env")
    enrichment = await enricher.enrich(tenant, project, documents(base))
    enrich_graph(graph, enrichment, documents)          # before the graph is diffed into the stores

Cognee runs in its own virtual environment, as a child process (`cognee_worker.py`, JSON lines), started
at first use and restarted if it dies; one request at a time. The job's documents are the codebase's
Markdown/reStructuredText/text files and Gherkin specs (README, docs/, *.feature), read with the same
root checks as its source. What comes back is mapped into the code graph with stable ids:

    (:Document {path})-[:MENTIONS]->(:Concept {name, type, description})-[:ABOUT]->(:Class|:Function)
    (:Concept)-[:RELATES_TO]->(:Concept)      (cognee's relationship name is not kept: diffed edges have no properties)

A Concept is ABOUT every class or function whose name or local qualified name it is (case-insensitive:
cognee lower-cases names). Because the nodes join the code graph before the diff, a re-ingest writes only
what changed and removes concepts the documents no longer yield. A worker that fails or dies is a transient
error (the job retries with backoff, then restarts from its checkpoint), never a dead letter: the event is fine.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import os
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from argus_streams.errors import StoreUnavailable
from argus_streams.knowledge_graph.cognify import CodeGraph, Edge, Node, content_hash, stable_id
from argus_streams.knowledge_graph.model import ABOUT, CONCEPT, DOCUMENT, LABELS, MENTIONS, PROJECT, RELATES_TO
from argus_streams.knowledge_graph.paths import SkippedFile, read_source, source_files
from argus_streams.settings import read_env_file

log = logging.getLogger(__name__)

WORKER = Path(__file__).with_name("cognee_worker.py")
DOC_SUFFIXES = frozenset({".md", ".markdown", ".rst", ".txt", ".feature"})
MAX_DOC_BYTES = 256 * 1024
MAX_DOCS = 200
LINKED_LABELS = (LABELS["class"], LABELS["function"])


class EnrichmentUnavailable(StoreUnavailable):
    """The Cognee worker failed, died or timed out: transient (retried), never the event's fault."""


@dataclass(frozen=True)
class Document:
    path: str
    text: str

    @property
    def digest(self) -> str:
        return hashlib.sha256(self.text.encode()).hexdigest()


@dataclass
class Enrichment:
    entities: list[dict[str, str]] = field(default_factory=list)
    mentions: list[dict[str, str]] = field(default_factory=list)
    relations: list[dict[str, str]] = field(default_factory=list)


def documents(base: Path) -> list[Document]:
    """The codebase's documents (sorted by path), under the same rules as its source files."""
    found: list[Document] = []
    for rel, full in source_files(base, DOC_SUFFIXES):
        if len(found) >= MAX_DOCS:
            log.warning("%s: more than %d documents, the rest are not enriched", base, MAX_DOCS)
            break
        try:  # a dangling symlink or a file that vanished raised OSError here and failed the task, every restart
            data = read_source(full, MAX_DOC_BYTES)
        except (SkippedFile, OSError):
            continue
        text = data.decode("utf-8", errors="replace")
        if text.strip():
            found.append(Document(rel, text))
    return found


def _key(name: str) -> str:
    return name.strip().lower()


def enrich_graph(graph: CodeGraph, enrichment: Enrichment, docs: list[Document]) -> CodeGraph:
    """Add the enrichment's Document and Concept nodes and their edges to `graph` (in place; returned)."""
    tenant, project = graph.tenant, graph.project
    root = stable_id(tenant, project, PROJECT, project)
    doc_nodes: dict[str, Node] = {}
    for doc in docs:
        props = {"qname": doc.path, "name": Path(doc.path).name, "path": doc.path}
        node_id = stable_id(tenant, project, DOCUMENT, doc.path)
        doc_nodes[doc.path] = Node(node_id, LABELS[DOCUMENT], {
            **props, "id": node_id, "tenant_id": tenant, "project_id": project,
            "hash": content_hash(props, doc.digest)})
    concepts: dict[str, Node] = {}
    for entity in enrichment.entities:
        name = _key(entity["name"])
        if not name or name in concepts:
            continue
        props = {"qname": name, "name": name, "type": entity.get("type", ""),
                 "description": entity.get("description", "")}
        node_id = stable_id(tenant, project, CONCEPT, name)
        concepts[name] = Node(node_id, LABELS[CONCEPT], {
            **props, "id": node_id, "tenant_id": tenant, "project_id": project, "hash": content_hash(props, "")})
    graph.nodes.update({n.id: n for n in (*doc_nodes.values(), *concepts.values())})
    graph.edges.update(Edge("CONTAINS", root, n.id, LABELS[PROJECT], n.label) for n in doc_nodes.values())
    for mention in enrichment.mentions:
        doc_node, concept = doc_nodes.get(mention["path"]), concepts.get(_key(mention["entity"]))
        if doc_node and concept:
            graph.edges.add(Edge(MENTIONS, doc_node.id, concept.id, doc_node.label, concept.label))
    for relation in enrichment.relations:
        a, b = concepts.get(_key(relation["source"])), concepts.get(_key(relation["target"]))
        if a and b and a.id != b.id:
            graph.edges.add(Edge(RELATES_TO, a.id, b.id, a.label, b.label))
    code: dict[str, list[Node]] = {}
    for node in graph.nodes.values():
        if node.label in LINKED_LABELS:
            local = str(node.props["qname"]).partition("::")[2]
            for name in {_key(local), _key(str(node.props["name"]))}:
                code.setdefault(name, []).append(node)
    for name, concept in concepts.items():
        for node in code.get(name, []):
            graph.edges.add(Edge(ABOUT, concept.id, node.id, concept.label, node.label))
    return graph


def worker_env(env_file: str) -> dict[str, str]:
    """The worker's environment: ours minus secrets it has no use for, plus the cognee settings file, and
    cognee's own folders under COGNEE_ROOT, one pair per worker (two workers must not share its SQLite)."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("REDPANDA_", "FALKORDB_", "NEO4J_", "DATABASE_", "CACHE_", "ARGUS_"))}
    if env_file:
        env.update(read_env_file(Path(env_file)))
    root = Path(env.get("COGNEE_ROOT") or Path(tempfile.gettempdir()) / "argus-cognee") / f"worker-{os.getpid()}"
    env["SYSTEM_ROOT_DIRECTORY"] = str(root / "system")
    env["DATA_ROOT_DIRECTORY"] = str(root / "data")
    return env


class CogneeEnricher:
    def __init__(self, python: str, env_file: str = "", timeout_s: float = 900.0):
        self.python = python
        self.env_file = env_file
        self.timeout_s = timeout_s
        self._process: asyncio.subprocess.Process | None = None
        self._lock: asyncio.Lock | None = None
        self._ids = 0

    async def _started(self) -> asyncio.subprocess.Process:
        if self._process is None or self._process.returncode is not None:
            if not Path(self.python).exists():
                raise FileNotFoundError(f"cognee enrichment: {self.python} does not exist (make cognee)")
            self._process = await asyncio.create_subprocess_exec(
                self.python, "-P", str(WORKER), stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
                stderr=sys.stderr, env=worker_env(self.env_file), limit=64 * 1024 * 1024)
        return self._process

    async def enrich(self, tenant: str, project: str, docs: list[Document]) -> Enrichment:
        if not docs:
            return Enrichment()
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            process = await self._started()
            assert process.stdin is not None and process.stdout is not None
            self._ids += 1
            request = {"id": self._ids, "dataset": f"{tenant}/{project}",
                       "documents": [{"path": d.path, "text": d.text} for d in docs]}
            try:
                process.stdin.write((json.dumps(request) + "\n").encode())
                await process.stdin.drain()
                line = await asyncio.wait_for(process.stdout.readline(), self.timeout_s)
            except (TimeoutError, OSError) as exc:
                await self._stop()
                raise EnrichmentUnavailable(f"cognee worker: {exc!r}") from exc
            if not line:
                await self._stop()
                raise EnrichmentUnavailable("cognee worker exited (see the TaskManager's log)")
            answer = json.loads(line)
            if answer.get("id") != self._ids:
                await self._stop()
                raise EnrichmentUnavailable(f"cognee worker answered request {answer.get('id')}, not {self._ids}")
            if not answer.get("ok"):
                raise EnrichmentUnavailable(f"cognee worker: {answer.get('error')}")
            return Enrichment(answer["entities"], answer["mentions"], answer["relations"])

    async def _stop(self) -> None:
        process, self._process = self._process, None
        if process is not None and process.returncode is None:
            process.kill()
            await process.wait()

    async def close(self) -> None:
        await self._stop()

    def __getstate__(self) -> dict[str, Any]:  # pickled into the job graph before it runs
        return {**self.__dict__, "_process": None, "_lock": None}
