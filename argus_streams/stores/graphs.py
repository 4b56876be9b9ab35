"""The graph stores' clients: FalkorDB and Neo4j connections, their indexes and write transactions."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, ClassVar
from urllib.parse import urlsplit

import redis
from falkordb import FalkorDB as SyncFalkorDB
from falkordb.asyncio import FalkorDB
from neo4j import AsyncDriver, AsyncGraphDatabase

from argus_streams.settings import Settings


def falkordb_client(url: str, asynchronous: bool = True) -> Any:
    """A FalkorDB client from FALKORDB_URL (redis://[:password@]host:port); the client's own from_url
    drops the password in this version."""
    parts = urlsplit(url)
    cls = FalkorDB if asynchronous else SyncFalkorDB
    return cls(host=parts.hostname or "127.0.0.1", port=parts.port or 6379,
               username=parts.username or None, password=parts.password)


def neo4j_async_driver(settings: Settings) -> AsyncDriver:
    """The jobs' Neo4j driver: short connect and retry bounds, so an outage surfaces to retry_transient."""
    return AsyncGraphDatabase.driver(
        settings.neo4j_uri, auth=(settings.neo4j_user, settings.neo4j_password.get_secret_value()),
        connection_timeout=5, max_transaction_retry_time=5,
    )


# (label, properties) of an index: the MERGE keys and lookups of both graphs' writers.
Index = tuple[str, tuple[str, ...]]


async def falkordb_ensure_indexes(graph: Any, indexes: Iterable[Index]) -> None:
    """Range indexes on each (label, properties), creating only the missing ones: index creation is not
    idempotent in FalkorDB."""
    existing = await graph.query("CALL db.indexes() YIELD label, properties RETURN label, properties")
    have = {(row[0], prop) for row in existing.result_set for prop in row[1]}
    for label, props in indexes:
        for prop in props:
            if (label, prop) in have:
                continue
            try:
                await graph.create_node_range_index(label, prop)
            except redis.exceptions.ResponseError as exc:
                # another writer (a parallel subtask, another job on this graph) created it since we looked
                if "already indexed" not in str(exc):
                    raise
            have.add((label, prop))


async def neo4j_ensure_indexes(driver: AsyncDriver, unique: Iterable[Index], lookup: Iterable[Index] = ()) -> None:
    """A uniqueness constraint `argus_<label>_unique` per MERGE key, and an index per lookup.

    The constraint (backed by an index) is what makes concurrent MERGEs from parallel subtasks safe in
    Neo4j; without it two transactions can create the same node. Labels and property names cannot be
    parameters: they come from the writers' constants, never from data.
    """
    for label, props in unique:
        fields = ", ".join(f"n.{p}" for p in props)
        await driver.execute_query(f"CREATE CONSTRAINT argus_{label.lower()}_unique IF NOT EXISTS "
                                   f"FOR (n:{label}) REQUIRE ({fields}) IS UNIQUE")
    for label, props in lookup:
        fields = ", ".join(f"n.{p}" for p in props)
        name = f"argus_{label.lower()}_{'_'.join(props[1:])}"
        await driver.execute_query(f"CREATE INDEX {name} IF NOT EXISTS FOR (n:{label}) ON ({fields})")


async def neo4j_write_transaction(driver: AsyncDriver, statements: Sequence[tuple[str, dict[str, Any]]]) -> None:
    """The statements in one write transaction: all or nothing (retried whole by the driver, hence a Sequence)."""
    async with driver.session() as session:
        async def work(tx: Any) -> None:
            for query, params in statements:
                await (await tx.run(query, params)).consume()
        await session.execute_write(work)


class FalkorDBGraph:
    """A writer's FalkorDB graph (FALKORDB_GRAPH): its client, and the indexes its writes need, made once."""

    indexes: ClassVar[tuple[Index, ...]] = ()

    def __init__(self, settings: Settings):
        self._db = falkordb_client(settings.falkordb_url.get_secret_value())
        self._graph = self._db.select_graph(settings.falkordb_graph)
        self._indexed = False

    async def ensure_indexes(self) -> None:
        if not self._indexed:
            await falkordb_ensure_indexes(self._graph, self.indexes)
            self._indexed = True

    async def close(self) -> None:
        await self._db.connection.aclose()


class Neo4jGraph:
    """A writer's Neo4j database: its driver, and the constraints (`unique`) and indexes (`lookup`) its writes
    need, made once."""

    unique: ClassVar[tuple[Index, ...]] = ()
    lookup: ClassVar[tuple[Index, ...]] = ()

    def __init__(self, settings: Settings):
        self._driver = neo4j_async_driver(settings)
        self._indexed = False

    async def ensure_indexes(self) -> None:
        if not self._indexed:
            await neo4j_ensure_indexes(self._driver, self.unique, self.lookup)
            self._indexed = True

    async def close(self) -> None:
        await self._driver.close()


class BothGraphs:
    """A sink's writers: FalkorDB's first (what the self-healer reads), then Neo4j's unless `neo4j` is False."""

    falkordb_writer: ClassVar[type[Any]]
    neo4j_writer: ClassVar[type[Any]]

    def __init__(self, settings: Settings, neo4j: bool = True):
        self.writers: list[Any] = [self.falkordb_writer(settings)]
        if neo4j:
            self.writers.append(self.neo4j_writer(settings))

    async def close(self) -> None:
        for writer in self.writers:
            await writer.close()
