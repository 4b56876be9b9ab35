"""Read the code graph back (tests, the CLI, the demo): the same questions asked of FalkorDB and Neo4j."""

from __future__ import annotations

from typing import Any

from argus_streams.failures.queries import falkordb_rows, neo4j_rows
from argus_streams.knowledge_graph.model import CONCEPT, DOCUMENT, LABELS
from argus_streams.settings import Settings

OPTIONAL_LABELS = (LABELS[DOCUMENT], LABELS[CONCEPT])

NODES = """
MATCH (n:{label} {{tenant_id: $tenant, project_id: $project}}) WHERE n.hash IS NOT NULL
RETURN n.qname AS qname, n.id AS id, n.parse_error AS parse_error
"""
EDGES = """
MATCH (a:{label} {{tenant_id: $tenant, project_id: $project}})-[r]->(b {{tenant_id: $tenant, project_id: $project}})
WHERE a.hash IS NOT NULL AND b.hash IS NOT NULL
RETURN type(r) AS type, a.qname AS src, b.qname AS dst
"""
# Tests created by events (no hash: not code) and what they are linked to.
EVENT_TESTS = """
MATCH (p:Project {tenant_id: $tenant, project_id: $project})-[:CONTAINS]->(t:Test {tenant_id: $tenant})
WHERE t.hash IS NULL
OPTIONAL MATCH (t)-[:TESTS]->(n {tenant_id: $tenant})
RETURN t.id AS test, t.name AS name, n.qname AS target ORDER BY test, target
"""
FAILURES_IN_CODE = """
MATCH (t:Test {tenant_id: $tenant})-[e:FAILED_IN]->(fn:Function {tenant_id: $tenant, project_id: $project})
RETURN fn.qname AS function, t.id AS test, e.signature AS signature, e.error_type AS error_type,
       e.last_seen AS last_seen
ORDER BY function, test, signature
"""
# "Which tests fail in this function", joined to the failure job's Failure nodes when it runs too.
FUNCTION_REPORT = """
MATCH (fn:Function {tenant_id: $tenant, project_id: $project})
WHERE fn.qname = $function OR fn.name = $function OR fn.qname ENDS WITH ('::' + $function)
OPTIONAL MATCH (t:Test {tenant_id: $tenant})-[e:FAILED_IN]->(fn)
OPTIONAL MATCH (f:Failure {tenant_id: $tenant, signature: e.signature})
RETURN fn.qname AS function, t.id AS test, e.error_type AS error_type, e.last_seen AS last_seen,
       f.count AS failures
ORDER BY function, test
"""
TESTED_BY = """
MATCH (t:Test {tenant_id: $tenant})-[:TESTS]->(fn {tenant_id: $tenant, project_id: $project})
WHERE fn.qname = $function OR fn.name = $function OR fn.qname ENDS WITH ('::' + $function)
RETURN fn.qname AS function, coalesce(t.qname, t.id) AS test ORDER BY function, test
"""


def rows(settings: Settings, store: str, query: str, params: dict[str, Any]) -> list[dict[str, Any]]:
    read = falkordb_rows if store == "falkordb" else neo4j_rows
    return read(settings, query, params)


def code_graph(settings: Settings, tenant: str, project: str, store: str = "falkordb",
               ) -> tuple[dict[tuple[str, str], dict[str, Any]], set[tuple[str, str, str]]]:
    """(label, qname) -> node row, and (type, src qname, dst qname) edges of a project's code."""
    params = {"tenant": tenant, "project": project}
    nodes: dict[tuple[str, str], dict[str, Any]] = {}
    edges: set[tuple[str, str, str]] = set()
    for label in LABELS.values():
        for row in rows(settings, store, NODES.format(label=label), params):
            nodes[(label, row["qname"])] = row
        edges.update((r["type"], r["src"], r["dst"]) for r in rows(settings, store, EDGES.format(label=label), params))
    return nodes, edges


def failures_in_code(settings: Settings, tenant: str, project: str, store: str = "falkordb") -> list[dict[str, Any]]:
    return rows(settings, store, FAILURES_IN_CODE, {"tenant": tenant, "project": project})


def event_tests(settings: Settings, tenant: str, project: str, store: str = "falkordb") -> list[dict[str, Any]]:
    return rows(settings, store, EVENT_TESTS, {"tenant": tenant, "project": project})


def function_report(settings: Settings, tenant: str, project: str, function: str,
                    store: str = "falkordb") -> dict[str, list[dict[str, Any]]]:
    params = {"tenant": tenant, "project": project, "function": function}
    return {"failures": rows(settings, store, FUNCTION_REPORT, params),
            "tests": rows(settings, store, TESTED_BY, params)}

COUNT_NODES = """
MATCH (n:{label} {{tenant_id: $tenant, project_id: $project}}) WHERE n.hash IS NOT NULL RETURN count(n) AS n
"""
COUNT_EDGES = """
MATCH (a:{label} {{tenant_id: $tenant, project_id: $project}})-[r]->(b {{tenant_id: $tenant}})
WHERE a.hash IS NOT NULL AND b.hash IS NOT NULL
RETURN type(r) AS type, count(r) AS n
"""
COUNT_LINKS = """
MATCH (t:Test {tenant_id: $tenant})-[r:FAILED_IN|TESTS]->(n {tenant_id: $tenant, project_id: $project})
WHERE t.hash IS NULL
RETURN type(r) AS type, count(r) AS n
"""
PARSE_ERRORS = """
MATCH (f:File {tenant_id: $tenant, project_id: $project}) WHERE f.parse_error IS NOT NULL
RETURN f.qname AS path, f.parse_error AS error ORDER BY path
"""
# Every read names the tenant on each node it matches, not only where the walk starts: an edge into another
# tenant's node (a bug, or a write this code did not make) shows nothing of that tenant. The one exception is
# PROJECT_TENANTS, the operator's question "which tenants have this project" (`graph` without --tenant).
PROJECT_TENANTS = "MATCH (p:Project {project_id: $project}) RETURN DISTINCT p.tenant_id AS tenant ORDER BY tenant"


def tenants_of(settings: Settings, project: str, store: str = "falkordb") -> list[str]:
    return [row["tenant"] for row in rows(settings, store, PROJECT_TENANTS, {"project": project})]


def project_summary(settings: Settings, tenant: str, project: str, store: str = "falkordb") -> dict[str, Any]:
    """Nodes by label, code edges by type, event links (tests created/failed) by type, and parse errors."""
    params = {"tenant": tenant, "project": project}
    nodes = {label: rows(settings, store, COUNT_NODES.format(label=label), params)[0]["n"] for label in LABELS.values()}
    nodes = {label: n for label, n in nodes.items() if n or label not in OPTIONAL_LABELS}  # Cognee's: when present
    edges: dict[str, int] = {}
    for label in LABELS.values():
        for row in rows(settings, store, COUNT_EDGES.format(label=label), params):
            edges[row["type"]] = edges.get(row["type"], 0) + row["n"]
    links = {row["type"]: row["n"] for row in rows(settings, store, COUNT_LINKS, params)}
    return {"nodes": nodes, "edges": dict(sorted(edges.items())), "links": dict(sorted(links.items())),
            "event_tests": len({r["test"] for r in event_tests(settings, tenant, project, store)}),
            "parse_errors": rows(settings, store, PARSE_ERRORS, params)}
