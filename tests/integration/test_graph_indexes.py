"""Index creation raced by several writers on one graph (parallel subtasks, two jobs) is not a data error."""

from __future__ import annotations

import asyncio

from argus_streams.stores.graphs import falkordb_client, falkordb_ensure_indexes

INDEXES = [("Project", ("tenant_id", "project_id")), ("File", ("tenant_id", "path"))]


def test_concurrent_writers_create_each_index_once(settings) -> None:  # noqa: ANN001
    async def race() -> list:
        clients = [falkordb_client(settings.falkordb_url.get_secret_value()) for _ in range(4)]
        graphs = [c.select_graph(settings.falkordb_graph) for c in clients]
        await graphs[0].query("CREATE (:Project {tenant_id: 't', project_id: 'p'})")  # the graph exists
        # before the fix one of these raised "Attribute 'project_id' is already indexed": a codebase dead-lettered
        await asyncio.gather(*(falkordb_ensure_indexes(g, INDEXES) for g in graphs))
        rows = (await graphs[0].query("CALL db.indexes() YIELD label, properties RETURN label, properties")).result_set
        await graphs[0].delete()
        for client in clients:
            await client.connection.aclose()
        return rows

    rows = asyncio.run(race())
    assert sorted((label, sorted(props)) for label, props in rows) == [
        ("File", ["path", "tenant_id"]), ("Project", ["project_id", "tenant_id"])]
