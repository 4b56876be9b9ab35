"""Code vectors in PostgreSQL with pgvector: `code_embeddings`, one row per class and function.

    store.sync(graph, extraction) -> VectorDiff     embed what is new or changed, delete what disappeared
    store.like(tenant, project, name)               the entities nearest to a named one
    store.nearest(tenant, vector, project)          the entities nearest to any vector (a text's)

A row is keyed by (tenant_id, entity_id), the graph node's stable id, and carries the node's content
hash and the model's name: a re-ingest embeds only entities whose hash (or the model) changed, and
re-processing the same event writes nothing. Every query filters on tenant_id first (a tenant never sees
another's code) and searches exactly (a sequential scan of one project's or tenant's rows through the
(tenant_id, project_id) index): an approximate HNSW index filtered by tenant afterwards can return fewer
than `limit` rows, and a project's few thousand vectors are scanned in milliseconds
(bench/knowledge_graph_throughput.py measures it).
Statements are parameterised; the table name is a `psycopg2.sql.Identifier`. The store is used from the
job's executor threads, so its connection is guarded by a lock.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np
import psycopg2
import psycopg2.extras
from psycopg2 import sql

from argus_streams.errors import ArgusStreamsError, StoreUnavailable
from argus_streams.knowledge_graph.cognify import CodeGraph
from argus_streams.knowledge_graph.embed import DIM, MODEL_NAME, CodeVectorRow, embed, embeddable
from argus_streams.knowledge_graph.model import Extraction
from argus_streams.stores.pg import DEFAULT_SCHEMA, PgStore

TABLE = "code_embeddings"
BATCH_ROWS = 500

_DDL = """
CREATE EXTENSION IF NOT EXISTS vector;
CREATE TABLE IF NOT EXISTS {table} (
    tenant_id   text        NOT NULL,
    entity_id   text        NOT NULL,
    project_id  text        NOT NULL,
    kind        text        NOT NULL,
    qname       text        NOT NULL,
    name        text        NOT NULL,
    path        text        NOT NULL,
    hash        text        NOT NULL,
    model       text        NOT NULL,
    embedding   vector({dim}) NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, entity_id)
);
CREATE INDEX IF NOT EXISTS {project_idx} ON {table} (tenant_id, project_id);
"""
_HELD = "SELECT entity_id, hash, model FROM {table} WHERE tenant_id = %s AND project_id = %s"
_UPSERT = """
INSERT INTO {table} (tenant_id, entity_id, project_id, kind, qname, name, path, hash, model, embedding)
VALUES %s
ON CONFLICT (tenant_id, entity_id) DO UPDATE SET
    project_id = EXCLUDED.project_id, kind = EXCLUDED.kind, qname = EXCLUDED.qname, name = EXCLUDED.name,
    path = EXCLUDED.path, hash = EXCLUDED.hash, model = EXCLUDED.model, embedding = EXCLUDED.embedding,
    updated_at = now()
"""
_UPSERT_ROW = "(%s, %s, %s, %s, %s, %s, %s, %s, %s, %s::vector)"
_DELETE = "DELETE FROM {table} WHERE tenant_id = %s AND project_id = %s AND entity_id = ANY(%s)"
# An entity by name: its qualified name ("api/pricing.py::line_total"), its local qualified name ("Cart.add",
# matched as the qname's tail after "::"), or its bare name. No LIKE: a name's % and _ are not wildcards.
_FIND = """
SELECT entity_id, project_id, kind, qname, name, path FROM {table}
WHERE tenant_id = %(tenant)s AND (%(project)s::text IS NULL OR project_id = %(project)s)
  AND (qname = %(name)s OR split_part(qname, '::', 2) = %(name)s OR name = %(name)s)
ORDER BY (qname = %(name)s) DESC, project_id, qname
"""
_NEAREST = """
SELECT entity_id, project_id, kind, qname, name, path, 1 - (embedding <=> %(vector)s::vector) AS similarity
FROM {table}
WHERE tenant_id = %(tenant)s AND (%(project)s::text IS NULL OR project_id = %(project)s)
  AND entity_id <> ALL(%(exclude)s)
ORDER BY embedding <=> %(vector)s::vector, qname
LIMIT %(limit)s
"""
_NEAREST_TO = """
SELECT o.entity_id, o.project_id, o.kind, o.qname, o.name, o.path, 1 - (o.embedding <=> e.embedding) AS similarity
FROM {table} e JOIN {table} o ON o.tenant_id = e.tenant_id
WHERE e.tenant_id = %(tenant)s AND e.entity_id = %(entity)s AND o.entity_id <> e.entity_id
  AND (%(project)s::text IS NULL OR o.project_id = %(project)s)
ORDER BY o.embedding <=> e.embedding, o.qname
LIMIT %(limit)s
"""


class VectorStoreUnavailable(StoreUnavailable):
    """PostgreSQL is down or the connection broke: transient (retried with backoff by the job, never the DLQ)."""


class AmbiguousName(ArgusStreamsError, LookupError):
    def __init__(self, name: str, matches: list[dict[str, Any]]):
        self.matches = matches
        super().__init__(f"{name!r} names {len(matches)} entities: "
                         + ", ".join(f"{m['project_id']}:{m['qname']}" for m in matches))


@dataclass(frozen=True)
class VectorDiff:
    written: int = 0
    deleted: int = 0


def vector_literal(vector: np.ndarray) -> str:
    """pgvector's text form, '[x,y,...]': exact for float32 (each value is printed as its Python float)."""
    if vector.shape != (DIM,) or not np.all(np.isfinite(vector)):
        raise ValueError(f"not a finite {DIM}-dimension vector: shape {vector.shape}")
    return "[" + ",".join(repr(float(x)) for x in vector) + "]"


class CodeVectorStore(PgStore):
    table_name = TABLE
    application_name = "argus-code-vectors"
    what = "code vectors"
    unavailable = VectorStoreUnavailable

    def __init__(self, dsn: str, schema: str = DEFAULT_SCHEMA):
        super().__init__(dsn, schema)
        self._lock = threading.RLock()
        self._ready = False

    def close(self) -> None:
        with self._lock:
            super().close()

    @contextmanager
    def _cursor(self) -> Iterator[Any]:
        """The base's transaction under the store's lock; values the database refuses are the data's fault."""
        with self._lock:
            try:
                with super()._cursor() as cur:
                    yield cur
            except psycopg2.DataError as exc:  # the event's fault (DLQ), not the database's
                raise ValueError(f"code vectors (PostgreSQL) refused the rows: {exc}".strip()) from exc

    def _sql(self, text: str) -> sql.Composed:
        return sql.SQL(text).format(table=self.table)

    def ensure_schema(self) -> None:
        if self._ready:
            return
        with self._cursor() as cur:
            self._create(cur, sql.SQL(_DDL).format(table=self.table, dim=sql.Literal(DIM),
                                                   project_idx=sql.Identifier(f"{TABLE}_project_idx")))
        self._ready = True

    def drop(self) -> None:
        super().drop()
        self._ready = False

    # Writes from the knowledge-graph job --------------------------------------------------------------------------
    def held(self, tenant: str, project: str) -> dict[str, tuple[str, str]]:
        """entity_id -> (hash, model) of a project's rows."""
        self.ensure_schema()
        with self._cursor() as cur:
            cur.execute(self._sql(_HELD), (tenant, project))
            return {row["entity_id"]: (row["hash"], row["model"]) for row in cur.fetchall()}

    def sync(self, graph: CodeGraph, extraction: Extraction) -> VectorDiff:
        """Make the project's rows exactly the graph's classes and functions, embedding only what changed."""
        wanted = embeddable(graph, extraction)
        held = self.held(graph.tenant, graph.project)
        changed = [row for node_id, row in sorted(wanted.items()) if held.get(node_id) != (row.hash, MODEL_NAME)]
        gone = sorted(set(held) - set(wanted))
        if not changed and not gone:
            return VectorDiff()
        vectors = embed([row.text for row in changed])  # outside the transaction: the model is the slow part
        with self._cursor() as cur:
            if gone:
                cur.execute(self._sql(_DELETE), (graph.tenant, graph.project, gone))
            for start in range(0, len(changed), BATCH_ROWS):
                batch = changed[start:start + BATCH_ROWS]
                values = [_values(graph.tenant, graph.project, row, vectors[start + i]) for i, row in enumerate(batch)]
                psycopg2.extras.execute_values(cur, self._sql(_UPSERT), values, template=_UPSERT_ROW,
                                               page_size=BATCH_ROWS)
        return VectorDiff(written=len(changed), deleted=len(gone))

    # Reads: "which code is like X" ------------------------------------------------------------------------------
    def find(self, tenant: str, name: str, project: str | None = None) -> list[dict[str, Any]]:
        self.ensure_schema()
        with self._cursor() as cur:
            cur.execute(self._sql(_FIND), {"tenant": tenant, "project": project, "name": name})
            return [dict(row) for row in cur.fetchall()]

    def like(self, tenant: str, name: str, project: str | None = None, limit: int = 5,
             ) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """(the entity `name` designates, the `limit` entities nearest to it); LookupError if none or several."""
        matches = self.find(tenant, name, project)
        exact = [m for m in matches if m["qname"] == name]
        if len(exact) == 1:
            matches = exact
        if not matches:
            raise LookupError(f"{name!r}: no class or function of that name")
        if len(matches) > 1:
            raise AmbiguousName(name, matches)
        entity = matches[0]
        with self._cursor() as cur:
            cur.execute(self._sql(_NEAREST_TO), {"tenant": tenant, "entity": entity["entity_id"],
                                                 "project": project, "limit": limit})
            return entity, [_rounded(row) for row in cur.fetchall()]

    def nearest(self, tenant: str, vector: np.ndarray, project: str | None = None, limit: int = 5,
                exclude: Sequence[str] = ()) -> list[dict[str, Any]]:
        self.ensure_schema()
        with self._cursor() as cur:
            cur.execute(self._sql(_NEAREST), {"tenant": tenant, "vector": vector_literal(vector),
                                              "project": project, "exclude": list(exclude), "limit": limit})
            return [_rounded(row) for row in cur.fetchall()]

    def vectors(self, tenant: str, project: str) -> dict[str, np.ndarray]:
        """entity qname -> its stored vector (tests and benchmarks compare these with a brute-force search)."""
        with self._cursor() as cur:
            cur.execute(self._sql("SELECT qname, embedding::text AS v FROM {table} "
                                  "WHERE tenant_id = %s AND project_id = %s"), (tenant, project))
            return {row["qname"]: np.array(row["v"].strip("[]").split(","), dtype=np.float32)
                    for row in cur.fetchall()}


def _values(tenant: str, project: str, row: CodeVectorRow, vector: np.ndarray) -> tuple[Any, ...]:
    return (tenant, row.entity_id, project, row.kind, row.qname, row.name, row.path, row.hash, MODEL_NAME,
            vector_literal(vector))


def _rounded(row: dict[str, Any]) -> dict[str, Any]:
    return {**row, "similarity": round(float(row["similarity"]), 4)}
