"""`argus-streams graph PROJECT [--function NAME | --like NAME | --like-text TEXT]`: the code knowledge graph.

Counts by label and edge type; with --function, the tests that exercise it and the tests failing in it
(joined to the failure job's Failure nodes for their counts); with --like / --like-text, the classes and
functions nearest to a named one or to a description (code_embeddings in PostgreSQL, pgvector).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from typing import Any

from argus_streams.settings import Settings


def register(sub: argparse._SubParsersAction) -> None:
    graph = sub.add_parser("graph", help="what the code knowledge graph holds for a project (and a function)",
                           description=__doc__)
    graph.add_argument("project", help="the project_id of codebase.ingested")
    graph.add_argument("--function", metavar="NAME", help="a function: name, Class.method or path::qualified name")
    graph.add_argument("--like", metavar="NAME",
                       help="the code most like this class or function (name, Class.method or path::name)")
    graph.add_argument("--like-text", metavar="TEXT", help="the code most like a description, e.g. 'format a price'")
    graph.add_argument("--limit", type=int, default=5, help="how many similar entities (default 5)")
    graph.add_argument("--tenant", help="default: the only tenant that has this project")
    graph.add_argument("--store", choices=["falkordb", "neo4j"], default="falkordb")
    graph.add_argument("--graph", help="FalkorDB graph name (default: $FALKORDB_GRAPH)")
    graph.add_argument("--json", action="store_true")
    graph.set_defaults(handler=cmd_graph)


def _tenant(settings: Settings, args: argparse.Namespace) -> str | None:
    from argus_streams.knowledge_graph.queries import tenants_of

    if args.tenant:
        return str(args.tenant)
    tenants = tenants_of(settings, args.project, args.store)
    if len(tenants) == 1:
        return tenants[0]
    found = f"tenants {', '.join(tenants)}: pick one with --tenant" if tenants else "no tenant has it"
    print(f"argus-streams: project {args.project!r}: {found}", file=sys.stderr)
    return None


def format_summary(project: str, tenant: str, summary: dict[str, Any]) -> list[str]:
    lines = [f"project {project} (tenant {tenant})"]
    lines += [f"  {label:<9}{count:>6}" for label, count in summary["nodes"].items()]
    lines.append("  edges    " + ", ".join(f"{kind} {n}" for kind, n in summary["edges"].items()))
    links = ", ".join(f"{kind} {n}" for kind, n in summary["links"].items()) or "none"
    lines.append(f"  tests from events: {summary['event_tests']}, linked to code: {links}")
    errors = summary["parse_errors"]
    lines.append(f"  parse errors: {len(errors)}")
    lines += [f"    {row['path']}: {row['error']}" for row in errors]
    return lines


def format_function(name: str, report: dict[str, list[dict[str, Any]]]) -> list[str]:
    functions = sorted({row["function"] for row in report["failures"]})
    if not functions:
        return [f"function {name}: not in the graph"]
    lines = []
    for function in functions:
        lines.append(f"function {function}")
        tests = [row["test"] for row in report["tests"] if row["function"] == function]
        lines.append("  tested by: " + (", ".join(tests) if tests else "-"))
        failing = [row for row in report["failures"] if row["function"] == function and row["test"]]
        lines.append(f"  failing tests: {len(failing) or '-'}")
        for row in failing:
            count = f", {row['failures']} failures" if row["failures"] is not None else ""
            lines.append(f"    {row['test']:<24} {row['error_type']:<20} last {row['last_seen']}{count}")
    return lines


def format_similar(query: str, rows: list[dict[str, Any]]) -> list[str]:
    lines = [f"code like {query}:"]
    lines += [f"  {row['similarity']:.3f}  {row['kind']:<8} {row['qname']}" for row in rows] or ["  -"]
    return lines


def cmd_similar(settings: Settings, tenant: str, args: argparse.Namespace) -> int:
    from argus_streams.knowledge_graph.embed import embed
    from argus_streams.knowledge_graph.vectors import CodeVectorStore

    with CodeVectorStore.from_settings(settings) as store:
        try:
            if args.like:
                entity, rows = store.like(tenant, args.like, args.project, args.limit)
                query = f"{entity['qname']} ({entity['kind']})"
            else:
                rows = store.nearest(tenant, embed([args.like_text])[0], args.project, args.limit)
                entity, query = None, repr(args.like_text)
        except LookupError as exc:
            print(f"argus-streams: project {args.project}: {exc}", file=sys.stderr)
            return 1
    if args.json:
        print(json.dumps({"project": args.project, "tenant": tenant, "like": entity or args.like_text,
                          "similar": rows}, indent=2))
    else:
        print("\n".join(format_similar(query, rows)))
    return 0


def cmd_graph(args: argparse.Namespace) -> int:
    from argus_streams.knowledge_graph.queries import function_report, project_summary

    logging.getLogger("neo4j.notifications").setLevel(logging.ERROR)  # "unknown property" on an empty database
    settings = Settings.load()
    if args.graph:
        settings = settings.model_copy(update={"falkordb_graph": args.graph})
    tenant = _tenant(settings, args)
    if tenant is None:
        return 1
    if args.like or args.like_text:
        return cmd_similar(settings, tenant, args)
    summary = project_summary(settings, tenant, args.project, args.store)
    report = function_report(settings, tenant, args.project, args.function, args.store) if args.function else None
    if args.json:
        print(json.dumps({"project": args.project, "tenant": tenant, **summary, "function": report}, indent=2))
        return 0
    print("\n".join(format_summary(args.project, tenant, summary)))
    if report is not None:
        print("\n".join(format_function(args.function, report)))
    return 0
