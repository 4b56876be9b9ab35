"""The code graph's reports read one tenant only, on every node they match: a tenant's test wired into another
tenant's function (a bug, or a write this code did not make) shows nothing of the other tenant, in FalkorDB and
in Neo4j alike. Real servers; the graph is written here by hand, as only a broken or hostile writer would."""

from __future__ import annotations

from typing import Any

import pytest
from neo4j import GraphDatabase

from argus_streams.knowledge_graph import queries
from argus_streams.stores.graphs import falkordb_client

PLANT = """
CREATE (pa:Project {tenant_id: $a, project_id: 'shop', id: 'shop', qname: 'shop', hash: 'p'}),
       (fa:Function {tenant_id: $a, project_id: 'shop', id: 'shop:api.py::pay', qname: 'api.py::pay', name: 'pay',
                     hash: 'fa'}),
       (ta:Test {tenant_id: $a, project_id: 'shop', id: 't-a', name: 't-a'}),
       (pa)-[:CONTAINS]->(ta), (ta)-[:TESTS]->(fa),
       (ta)-[:FAILED_IN {signature: 'v1:a', error_type: 'ValueError', last_seen: '2026-12-01'}]->(fa),
       (fb:Function {tenant_id: $b, project_id: 'shop', id: 'shop:b.py::pay', qname: 'b.py::pay', name: 'pay',
                     hash: 'fb'}),
       (tb:Test {tenant_id: $b, project_id: 'shop', id: 't-b', name: 't-b'}),
       (pa)-[:CONTAINS]->(tb), (tb)-[:TESTS]->(fa), (ta)-[:TESTS]->(fb), (fa)-[:CALLS]->(fb),
       (tb)-[:FAILED_IN {signature: 'v1:b', error_type: 'KeyError', last_seen: '2026-12-01'}]->(fa)
"""


def plant(settings: Any, store: str, params: dict[str, str]) -> None:  # noqa: ANN401
    if store == "falkordb":
        db = falkordb_client(settings.falkordb_url.get_secret_value(), asynchronous=False)
        try:
            db.select_graph(settings.falkordb_graph).query(PLANT, params)
        finally:
            db.connection.close()
    else:
        auth = (settings.neo4j_user, settings.neo4j_password.get_secret_value())
        with GraphDatabase.driver(settings.neo4j_uri, auth=auth) as driver:
            driver.execute_query(PLANT, params)


@pytest.mark.parametrize("store", ["falkordb", "neo4j"])
def test_a_tenants_reports_show_nothing_of_another_tenant(store_settings, store: str) -> None:  # noqa: ANN001
    a, b = f"{store_settings.topic_prefix}-a", f"{store_settings.topic_prefix}-b"
    plant(store_settings, store, {"a": a, "b": b})

    report = queries.function_report(store_settings, a, "shop", "pay", store)
    assert [(row["function"], row["test"], row["error_type"]) for row in report["failures"]] == [
        ("api.py::pay", "t-a", "ValueError")]
    assert report["tests"] == [{"function": "api.py::pay", "test": "t-a"}]
    assert queries.event_tests(store_settings, a, "shop", store) == [
        {"test": "t-a", "name": "t-a", "target": "api.py::pay"}]
    assert [row["test"] for row in queries.failures_in_code(store_settings, a, "shop", store)] == ["t-a"]
    summary = queries.project_summary(store_settings, a, "shop", store)
    assert summary["nodes"]["Function"] == 1 and "CALLS" not in summary["edges"]
    assert summary["links"] == {"FAILED_IN": 1, "TESTS": 1} and summary["event_tests"] == 1
    nodes, edges = queries.code_graph(store_settings, a, "shop", store)
    assert set(nodes) == {("Project", "shop"), ("Function", "api.py::pay")} and edges == set()
    # The other tenant's own view holds its function, and nothing of tenant a's.
    assert queries.function_report(store_settings, b, "shop", "pay", store)["tests"] == []
    assert set(queries.code_graph(store_settings, b, "shop", store)[0]) == {("Function", "b.py::pay")}
