"""The failure graph in FalkorDB and Neo4j: its indexes and its batched idempotent upserts.

Writes set values from Flink state behind a monotonic guard (a row only wins when its count/seq is
at least the stored one), so replays after a restart and out-of-order async completions converge on
the true values instead of double counting. Every query is parameterised; every key has tenant_id.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from argus_streams.stores.graphs import BothGraphs, FalkorDBGraph, Neo4jGraph, neo4j_write_transaction
from argus_streams.stores.policy import retry_transient

UPSERT_FAILURES = """
UNWIND $rows AS r
MERGE (f:Failure {tenant_id: r.tenant_id, signature: r.signature})
WITH f, r, (f.count IS NULL OR f.count <= r.count) AS newer
SET f.count = CASE WHEN newer THEN r.count ELSE f.count END,
    f.first_seen = CASE WHEN newer THEN r.first_seen ELSE f.first_seen END,
    f.last_seen = CASE WHEN newer THEN r.last_seen ELSE f.last_seen END,
    f.error_type = CASE WHEN newer THEN r.error_type ELSE f.error_type END,
    f.sample_message = CASE WHEN newer THEN r.sample_message ELSE f.sample_message END
"""

# (:TestSuite)-[:CONTAINS]->(:Test) is written by UPSERT_TESTS only: every event yields a test row, and
# one writer per relationship type keeps concurrent subtasks from MERGE-ing the same relationship twice.
UPSERT_EDGES = """
UNWIND $rows AS r
MATCH (f:Failure {tenant_id: r.tenant_id, signature: r.signature})
MERGE (t:Test {tenant_id: r.tenant_id, id: r.test_id})
SET t.suite_id = r.suite_id
MERGE (t)-[h:HAD_FAILURE]->(f)
WITH h, r, (h.count IS NULL OR h.count <= r.edge_count) AS newer
SET h.count = CASE WHEN newer THEN r.edge_count ELSE h.count END,
    h.last_seen = CASE WHEN newer THEN r.edge_last_seen ELSE h.last_seen END
"""

UPSERT_TESTS = """
UNWIND $rows AS r
MERGE (t:Test {tenant_id: r.tenant_id, id: r.test_id})
WITH t, r, (t.seq IS NULL OR t.seq <= r.seq) AS newer
SET t.suite_id = r.suite_id,
    t.flakiness = CASE WHEN newer THEN r.flakiness ELSE t.flakiness END,
    t.seq = CASE WHEN newer THEN r.seq ELSE t.seq END
MERGE (s:TestSuite {tenant_id: r.tenant_id, id: r.suite_id})
MERGE (s)-[:CONTAINS]->(t)
"""

# (label, properties) of every MERGE key.
INDEXES = (
    ("Failure", ("tenant_id", "signature")), ("Test", ("tenant_id", "id")), ("TestSuite", ("tenant_id", "id")),
    ("Fix", ("tenant_id", "signature", "selector")),
)

_NODE_FIELDS = ("tenant_id", "signature", "count", "first_seen", "last_seen", "error_type", "sample_message")
_EDGE_FIELDS = ("tenant_id", "signature", "test_id", "suite_id", "edge_count", "edge_last_seen")
_TEST_FIELDS = ("tenant_id", "test_id", "suite_id", "flakiness", "seq")


def _latest(rows: list[dict[str, Any]], key: tuple[str, ...], version: str, fields: tuple[str, ...]) -> list[dict]:
    best: dict[tuple[Any, ...], dict[str, Any]] = {}
    for row in rows:
        k = tuple(row[name] for name in key)
        if k not in best or best[k][version] <= row[version]:
            best[k] = row
    return [{name: row[name] for name in fields} for row in best.values()]


@dataclass(frozen=True)
class WritePlan:
    """One batch as three statements, each with at most one row per key.

    The graph stores apply a statement's SETs eagerly, after every MERGE of the UNWIND: two rows for
    one node in one statement would race, so only the newest row per key (highest count/seq) is kept.
    """

    failures: list[dict[str, Any]]
    edges: list[dict[str, Any]]
    tests: list[dict[str, Any]]

    @classmethod
    def of(cls, rows: Sequence[dict[str, Any]]) -> WritePlan:
        failure_rows = [r for r in rows if r["kind"] == "failure"]
        # An edge is a row of its own (the job's coalesced rows) or rides on a failure row (one row per event).
        edge_rows = [r for r in rows if r["kind"] == "edge" or (r["kind"] == "failure" and "edge_count" in r)]
        test_rows = [r for r in rows if r["kind"] == "test"]
        return cls(
            failures=_latest(failure_rows, ("tenant_id", "signature"), "count", _NODE_FIELDS),
            edges=_latest(edge_rows, ("tenant_id", "signature", "test_id"), "edge_count", _EDGE_FIELDS),
            tests=_latest(test_rows, ("tenant_id", "test_id"), "seq", _TEST_FIELDS),
        )

    def statements(self) -> list[tuple[str, list[dict[str, Any]]]]:
        """In dependency order (edges MATCH their Failure); empty ones left out."""
        plan = [(UPSERT_FAILURES, self.failures), (UPSERT_EDGES, self.edges), (UPSERT_TESTS, self.tests)]
        return [(query, rows) for query, rows in plan if rows]


class FalkorGraphWriter(FalkorDBGraph):
    indexes = INDEXES

    async def write(self, plan: WritePlan) -> None:
        await self.ensure_indexes()
        for query, rows in plan.statements():
            await self._graph.query(query, {"rows": rows})


class Neo4jGraphWriter(Neo4jGraph):
    unique = INDEXES

    async def run(self, query: str, params: dict[str, Any]) -> None:
        """One parameterised write statement (the healing job records its fixes with it)."""
        await self.ensure_indexes()
        await self._driver.execute_query(query, params)

    async def write(self, plan: WritePlan) -> None:
        await self.ensure_indexes()
        await neo4j_write_transaction(self._driver, [(query, {"rows": rows}) for query, rows in plan.statements()])


class GraphSink(BothGraphs):
    """Both graphs, written in one batch: FalkorDB first, then Neo4j."""

    falkordb_writer = FalkorGraphWriter
    neo4j_writer = Neo4jGraphWriter

    async def write(self, rows: Sequence[dict[str, Any]]) -> None:
        plan = WritePlan.of(rows)
        for writer in self.writers:
            await self.write_to(writer, plan)

    @staticmethod
    async def write_to(writer: Any, plan: WritePlan) -> None:
        """One store's share of a write, its transient errors retried with backoff."""
        await retry_transient(functools.partial(writer.write, plan), what=type(writer).__name__)
