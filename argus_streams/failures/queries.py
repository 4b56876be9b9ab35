"""Read the failure graph back (tests, the CLI, people): the same questions asked of FalkorDB and Neo4j."""

from __future__ import annotations

from typing import Any

from neo4j import GraphDatabase

from argus_streams.settings import Settings
from argus_streams.stores.graphs import falkordb_client

FAILURES = """
MATCH (f:Failure {tenant_id: $tenant})
RETURN f.signature AS signature, f.count AS count, f.error_type AS error_type,
       f.first_seen AS first_seen, f.last_seen AS last_seen, f.sample_message AS sample_message
ORDER BY signature
"""
EDGES = """
MATCH (s:TestSuite {tenant_id: $tenant})-[:CONTAINS]->(t:Test {tenant_id: $tenant})
      -[h:HAD_FAILURE]->(f:Failure {tenant_id: $tenant})
RETURN s.id AS suite, t.id AS test, f.signature AS signature, h.count AS count
ORDER BY suite, test, signature
"""
TESTS = """
MATCH (s:TestSuite {tenant_id: $tenant})-[:CONTAINS]->(t:Test {tenant_id: $tenant})
RETURN s.id AS suite, t.id AS test, t.flakiness AS flakiness
ORDER BY suite, test
"""
QUERIES = {"failures": FAILURES, "edges": EDGES, "tests": TESTS}


def falkordb_rows(settings: Settings, query: str, params: dict[str, Any]) -> list[dict[str, Any]]:
    db = falkordb_client(settings.falkordb_url.get_secret_value(), asynchronous=False)
    try:
        graph = db.select_graph(settings.falkordb_graph)
        if settings.falkordb_graph not in db.list_graphs():
            return []
        result = graph.ro_query(query, params)
        names = [column[1] if isinstance(column, list | tuple) else column for column in result.header]
        return [dict(zip(names, row, strict=True)) for row in result.result_set]
    finally:
        db.connection.close()


def neo4j_rows(settings: Settings, query: str, params: dict[str, Any]) -> list[dict[str, Any]]:
    auth = (settings.neo4j_user, settings.neo4j_password.get_secret_value())
    with GraphDatabase.driver(settings.neo4j_uri, auth=auth) as driver:
        records, _, _ = driver.execute_query(query, params)
        return [record.data() for record in records]


def failure_graph(settings: Settings, tenant: str, store: str = "falkordb") -> dict[str, list[dict[str, Any]]]:
    """Failures, test->failure edges and tests of one tenant, from one store."""
    read = falkordb_rows if store == "falkordb" else neo4j_rows
    return {name: read(settings, query, {"tenant": tenant}) for name, query in QUERIES.items()}
