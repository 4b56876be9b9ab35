"""What our PostgreSQL stores share: one connection per store, one transaction per `_cursor()`, a schema of
their own for tests, and a broken connection reported as the store's transient error.

    class ReviewStore(PgStore):          table = "failed_events"; unavailable = ReviewStoreUnavailable
    class CodeVectorStore(PgStore):      table = "code_embeddings"; unavailable = VectorStoreUnavailable

A store is not safe for concurrent use from several threads unless it says so (CodeVectorStore locks).
Names are `psycopg2.sql.Identifier`s, never formatted into statements.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, ClassVar, Self

import psycopg2
import psycopg2.extras
from psycopg2 import sql

from argus_streams.settings import Settings

DEFAULT_SCHEMA = "public"
CONNECT_TIMEOUT_S = 5


class PgStore:
    table_name: ClassVar[str]
    application_name: ClassVar[str]
    what: ClassVar[str]  # for the unavailable error: "review store"
    unavailable: ClassVar[type[Exception]]

    def __init__(self, dsn: str, schema: str = DEFAULT_SCHEMA):
        self.dsn = dsn
        self.schema = schema
        self.table = sql.Identifier(schema, self.table_name)
        self._conn: Any = None

    @classmethod
    def from_settings(cls, settings: Settings, schema: str = DEFAULT_SCHEMA) -> Self:
        return cls(settings.database_url.get_secret_value(), schema)

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def _cursor(self) -> Iterator[Any]:
        """One transaction; a broken connection is dropped (the next call reconnects) and reported transient."""
        try:
            if self._conn is None:
                self._conn = psycopg2.connect(self.dsn, connect_timeout=CONNECT_TIMEOUT_S,
                                              application_name=self.application_name)
            with self._conn, self._conn.cursor(cursor_factory=psycopg2.extras.RealDictCursor) as cur:
                yield cur
        except (psycopg2.OperationalError, psycopg2.InterfaceError) as exc:
            self.close()
            raise self.unavailable(f"{self.what} (PostgreSQL) unavailable: {exc}".strip()) from exc

    def _create(self, cur: Any, ddl: sql.Composable) -> None:
        """Run `ddl` once at a time across processes (concurrent CREATE ... IF NOT EXISTS can still collide
        in the catalog), in this store's schema, created if it is not the default one."""
        cur.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (f"{self.application_name}:{self.schema}",))
        if self.schema != DEFAULT_SCHEMA:
            cur.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(self.schema)))
        cur.execute(ddl)

    def drop(self) -> None:
        """Drop this store's schema (tests) or table (the default schema)."""
        with self._cursor() as cur:
            if self.schema == DEFAULT_SCHEMA:
                cur.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(self.table))
            else:
                cur.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(self.schema)))
