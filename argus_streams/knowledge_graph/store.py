"""Load: the code graph into FalkorDB and Neo4j, as batched, parameterised, idempotent statements.

Each store is diffed on its own (it may lag the other after a crash): read the project's code nodes
(id, hash) and edges, compute the diff, apply it. Applying the same diff twice, or re-ingesting an
unchanged codebase, writes nothing. Labels and relationship types are never parameters in Cypher, so
they are taken only from the constants in model.py; every value is a parameter.
"""

from __future__ import annotations

import functools
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from argus_streams.knowledge_graph.cognify import CodeGraph, Edge, GraphDiff, diff
from argus_streams.knowledge_graph.model import EDGE_TYPES, LABELS
from argus_streams.stores.graphs import BothGraphs, FalkorDBGraph, Index, Neo4jGraph, neo4j_write_transaction
from argus_streams.stores.policy import retry_transient

BATCH_ROWS = 1000
CODE_LABELS = tuple(LABELS.values())
# (label, properties) of every lookup key: MERGE by (tenant_id, id), a project's nodes, a function by name.
CODE_INDEXES: tuple[Index, ...] = tuple((label, ("tenant_id", "id")) for label in CODE_LABELS)
LOOKUP_INDEXES: tuple[Index, ...] = (*((label, ("tenant_id", "project_id")) for label in CODE_LABELS),
                                     ("Function", ("tenant_id", "project_id", "name")))

HELD_NODES = """
MATCH (n:{label} {{tenant_id: $tenant, project_id: $project}}) WHERE n.hash IS NOT NULL RETURN n.id, n.hash
"""
HELD_EDGES = """
MATCH (a:{label} {{tenant_id: $tenant, project_id: $project}})-[r]->(b)
WHERE a.hash IS NOT NULL AND b.hash IS NOT NULL AND b.tenant_id = $tenant AND b.project_id = $project
  AND type(r) IN $types
RETURN a.id, type(r), labels(b)[0], b.id
"""
UPSERT_NODES = "UNWIND $rows AS r MERGE (n:{label} {{tenant_id: $tenant, id: r.id}}) SET n = r.props"
DELETE_NODES = "UNWIND $rows AS r MATCH (n:{label} {{tenant_id: $tenant, id: r}}) DETACH DELETE n"
DELETE_EDGES = """
UNWIND $rows AS r
MATCH (a:{src} {{tenant_id: $tenant, id: r.src}})-[e:{type}]->(b:{dst} {{tenant_id: $tenant, id: r.dst}})
DELETE e
"""
CREATE_EDGES = """
UNWIND $rows AS r
MATCH (a:{src} {{tenant_id: $tenant, id: r.src}})
MATCH (b:{dst} {{tenant_id: $tenant, id: r.dst}})
MERGE (a)-[:{type}]->(b)
"""
# test.created: the test, its project, and the code it names ("path::Qual.name", "Qual.name" or "name").
UPSERT_TESTS = """
UNWIND $rows AS r
MERGE (t:Test {tenant_id: r.tenant_id, id: r.test_id})
SET t.project_id = r.project_id, t.name = r.name, t.test_type = r.test_type, t.spec = r.spec,
    t.suite_id = coalesce(r.suite_id, t.suite_id)
MERGE (p:Project {tenant_id: r.tenant_id, id: r.project_node})
ON CREATE SET p.project_id = r.project_id, p.name = r.project_id, p.qname = r.project_id
MERGE (p)-[:CONTAINS]->(t)
"""
LINK_TEST_TARGETS = """
UNWIND $rows AS r
MATCH (t:Test {{tenant_id: r.tenant_id, id: r.test_id}})
UNWIND r.targets AS target
MATCH (n:{label} {{tenant_id: r.tenant_id, project_id: r.project_id}})
WHERE n.hash IS NOT NULL AND (n.qname = target OR n.qname ENDS WITH ('::' + target) OR n.name = target)
MERGE (t)-[:TESTS]->(n)
"""
# test.failed: the failing test -[:FAILED_IN {signature}]-> every function of the project in its stack frames.
LINK_FAILURES = """
UNWIND $rows AS r
MERGE (t:Test {tenant_id: r.tenant_id, id: r.test_id})
SET t.project_id = r.project_id
WITH t, r
UNWIND r.frames AS frame
MATCH (fn:Function {tenant_id: r.tenant_id, project_id: r.project_id, name: frame.function})
WHERE fn.hash IS NOT NULL AND (frame.path = fn.path OR frame.path ENDS WITH ('/' + fn.path))
MERGE (t)-[e:FAILED_IN {signature: r.signature}]->(fn)
SET e.error_type = r.error_type,
    e.last_seen = CASE WHEN e.last_seen IS NULL OR e.last_seen < r.failed_at THEN r.failed_at ELSE e.last_seen END
"""

Statement = tuple[str, dict[str, Any]]


def _label(name: str) -> str:
    if name not in CODE_LABELS:
        raise ValueError(f"not a code-graph label: {name!r}")
    return name


def _type(name: str) -> str:
    if name not in EDGE_TYPES:
        raise ValueError(f"not a code-graph relationship type: {name!r}")
    return name


def _chunks(rows: Sequence[Any]) -> Iterator[list[Any]]:
    for start in range(0, len(rows), BATCH_ROWS):
        yield list(rows[start:start + BATCH_ROWS])


def _by_shape(edges: Iterable[Edge]) -> dict[tuple[str, str, str], list[dict[str, str]]]:
    grouped: dict[tuple[str, str, str], list[dict[str, str]]] = defaultdict(list)
    for edge in edges:
        grouped[(edge.type, edge.src_label, edge.dst_label)].append({"src": edge.src, "dst": edge.dst})
    return grouped


def diff_statements(tenant: str, changes: GraphDiff) -> list[Statement]:
    """The diff as batched statements: gone edges, gone nodes, new/changed nodes, new edges."""
    statements: list[Statement] = []
    for (kind, src, dst), rows in sorted(_by_shape(changes.gone_edges).items()):
        query = DELETE_EDGES.format(type=_type(kind), src=_label(src), dst=_label(dst))
        statements += [(query, {"tenant": tenant, "rows": chunk}) for chunk in _chunks(rows)]
    gone: dict[str, list[str]] = defaultdict(list)
    for label, node_id in changes.gone_nodes:
        gone[label].append(node_id)
    for label, ids in sorted(gone.items()):
        statements += [(DELETE_NODES.format(label=_label(label)), {"tenant": tenant, "rows": chunk})
                       for chunk in _chunks(ids)]
    upserts: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for node in changes.nodes:
        upserts[node.label].append({"id": node.id, "props": node.props})
    for label, rows in sorted(upserts.items()):
        statements += [(UPSERT_NODES.format(label=_label(label)), {"tenant": tenant, "rows": chunk})
                       for chunk in _chunks(rows)]
    for (kind, src, dst), rows in sorted(_by_shape(changes.edges).items()):
        query = CREATE_EDGES.format(type=_type(kind), src=_label(src), dst=_label(dst))
        statements += [(query, {"tenant": tenant, "rows": chunk}) for chunk in _chunks(rows)]
    return statements


def created_statements(rows: Sequence[dict[str, Any]]) -> list[Statement]:
    statements: list[Statement] = [(UPSERT_TESTS, {"rows": list(rows)})]
    targeted = [r for r in rows if r["targets"]]
    if targeted:
        statements += [(LINK_TEST_TARGETS.format(label=label), {"rows": targeted}) for label in ("Function", "Class")]
    return statements


def failed_statements(rows: Sequence[dict[str, Any]]) -> list[Statement]:
    return [(LINK_FAILURES, {"rows": list(rows)})]


def held_state(rows_by_label: dict[str, tuple[list[list[Any]], list[list[Any]]]]) -> tuple[dict, set[Edge]]:
    """(id -> (label, hash), edges) from the HELD_NODES / HELD_EDGES rows of each label."""
    nodes: dict[str, tuple[str, str]] = {}
    edges: set[Edge] = set()
    for label, (node_rows, edge_rows) in rows_by_label.items():
        nodes.update({row[0]: (label, row[1]) for row in node_rows})
        edges.update(Edge(row[1], row[0], row[3], label, row[2]) for row in edge_rows)
    return nodes, edges


class HeldReader:
    """`held`: what a store holds of a project, read with the writer's own `_read(query, params)` -> rows."""

    async def ensure_indexes(self) -> None:
        raise NotImplementedError

    async def _read(self, query: str, params: dict[str, Any]) -> list[list[Any]]:
        raise NotImplementedError

    async def held(self, tenant: str, project: str) -> tuple[dict, set[Edge]]:
        await self.ensure_indexes()
        params = {"tenant": tenant, "project": project, "types": list(EDGE_TYPES)}
        found = {}
        for label in CODE_LABELS:
            found[label] = (await self._read(HELD_NODES.format(label=label), params),
                            await self._read(HELD_EDGES.format(label=label), params))
        return held_state(found)


class FalkorCodeWriter(FalkorDBGraph, HeldReader):
    indexes = (*CODE_INDEXES, *LOOKUP_INDEXES)

    async def _read(self, query: str, params: dict[str, Any]) -> list[list[Any]]:
        return list((await self._graph.ro_query(query, params)).result_set)

    async def apply(self, statements: Sequence[Statement]) -> None:
        await self.ensure_indexes()
        for query, params in statements:
            await self._graph.query(query, params)


class Neo4jCodeWriter(Neo4jGraph, HeldReader):
    # the same constraint names and keys as the failure graph's (Test is shared)
    unique, lookup = CODE_INDEXES, LOOKUP_INDEXES

    async def _read(self, query: str, params: dict[str, Any]) -> list[list[Any]]:
        records, _, _ = await self._driver.execute_query(query, params)
        return [list(record.values()) for record in records]

    async def apply(self, statements: Sequence[Statement]) -> None:
        """One transaction: a project's change is all or nothing in Neo4j."""
        await self.ensure_indexes()
        await neo4j_write_transaction(self._driver, statements)


class CodeGraphSink(BothGraphs):
    """Both stores, each diffed against what it holds itself."""

    falkordb_writer = FalkorCodeWriter
    neo4j_writer = Neo4jCodeWriter

    async def sync(self, graph: CodeGraph) -> GraphDiff:
        """Make every store hold exactly `graph` for its project; returns the first store's diff."""
        diffs = []
        for writer in self.writers:
            what = type(writer).__name__
            held = await retry_transient(functools.partial(writer.held, graph.tenant, graph.project), what=what)
            changes = diff(graph, *held)
            if not changes.empty:
                statements = diff_statements(graph.tenant, changes)
                await retry_transient(functools.partial(writer.apply, statements), what=what)
            diffs.append(changes)
        return diffs[0]

    async def apply(self, statements: list[Statement]) -> None:
        for writer in self.writers:
            await retry_transient(functools.partial(writer.apply, statements), what=type(writer).__name__)
