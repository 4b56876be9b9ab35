"""The knowledge-graph part of `make demo`: ingest the sample codebase, fail tests in it, print the joined graph."""

from __future__ import annotations

import shutil
import time
import uuid
from pathlib import Path
from typing import Any

from argus_dev.stack.base import REPO_ROOT
from argus_streams.bus.gateway import EventGateway
from argus_streams.bus.io import consumer
from argus_streams.contract.events import ArgusEvent
from argus_streams.knowledge_graph.queries import project_summary, rows
from argus_streams.knowledge_graph.vectors import CodeVectorStore
from argus_streams.settings import Settings

SAMPLE = REPO_ROOT / "tests" / "codegraph_sample" / "shop"
TENANT, PROJECT = "acme", "shop"
LIKE = "check_quantity"  # "which code is like it": the TypeScript validation comes first
TIMEOUT_S = 120
PY_TRACE = '''Traceback (most recent call last):
  File "/ci/shop/tests/test_cart.py", line 20, in test_rejects_zero
  File "/ci/shop/api/models.py", line 19, in add
  File "/ci/shop/api/validation.py", line 9, in check_quantity
api.validation.ValidationError: quantity must be positive, got 0'''
JS_TRACE = """RangeError: quantity must be positive
    at CartModel.validate (/ci/shop/web/src/models/cart.ts:25:13)
    at CartModel.add (/ci/shop/web/src/models/cart.ts:14:10)"""
# Failures joined to code: the tests failing in each function (FAILED_IN, this job) and, from the failure
# job's Failure nodes, how often that root cause was seen.
FAILURES_BY_FUNCTION = """
MATCH (t:Test {tenant_id: $tenant})-[e:FAILED_IN]->(fn:Function {tenant_id: $tenant, project_id: $project})
OPTIONAL MATCH (f:Failure {tenant_id: $tenant, signature: e.signature})
RETURN fn.qname AS function, e.error_type AS error_type, collect(DISTINCT t.id) AS tests,
       max(f.count) AS failures
ORDER BY function, error_type
"""


def failed(test: str, suite: str, error: str, trace: str, run: int) -> ArgusEvent:
    return ArgusEvent.new("test.failed", source="demo", tenant_id=TENANT, payload={
        "test_id": test, "test_suite_id": suite, "project_id": PROJECT, "run_id": f"run-{run}",
        "build_id": f"build-{run}", "failure_details": {"error_type": error, "message": "quantity must be positive",
                                                        "stack_trace": trace}})


def wait_analyzed(settings: Settings, correlation_id: str) -> dict[str, Any] | None:
    reader = consumer(settings, [f"{settings.topic_prefix}.codebase.analyzed"], isolation_level="read_committed")
    deadline = time.monotonic() + TIMEOUT_S
    try:
        while time.monotonic() < deadline:
            for batch in reader.poll(timeout_ms=500).values():
                for record in batch:
                    event = ArgusEvent.from_json(record.value)
                    if event.correlation_id == correlation_id:
                        return event.payload
    finally:
        reader.close()
    return None


def joined(settings: Settings) -> list[dict[str, Any]]:
    return rows(settings, "falkordb", FAILURES_BY_FUNCTION, {"tenant": TENANT, "project": PROJECT})


def run_flow(settings: Settings) -> bool:
    target = Path(settings.codebase_root) / TENANT / PROJECT  # each tenant's codebases in a folder of its own
    shutil.copytree(SAMPLE, target, dirs_exist_ok=True)
    ingest = ArgusEvent.new("codebase.ingested", source="demo", tenant_id=TENANT,
                            payload={"project_id": PROJECT, "codebase_path": PROJECT, "commit_sha": uuid.uuid4().hex})
    with EventGateway(settings) as gateway:
        gateway.publish(ingest)
    analyzed = wait_analyzed(settings, ingest.correlation_id)
    if analyzed is None:
        print(f"  no codebase.analyzed for {target} within {TIMEOUT_S}s")
        return False
    print(f"  ingested {target}: {analyzed['files']} files, {analyzed['entities']} entities, {analyzed['edges']} "
          f"edges, {analyzed['parse_errors']} parse errors in {analyzed['duration_ms']:.0f} ms "
          f"({analyzed['nodes_written']} nodes written, {analyzed['nodes_deleted']} deleted, "
          f"{analyzed.get('embeddings_written', 0)} embedded)")
    summary = project_summary(settings, TENANT, PROJECT)
    print("  graph: " + ", ".join(f"{label} {n}" for label, n in summary["nodes"].items())
          + "; " + ", ".join(f"{kind} {n}" for kind, n in summary["edges"].items()))
    with CodeVectorStore.from_settings(settings) as vectors:
        entity, similar = vectors.like(TENANT, LIKE, PROJECT, limit=3)
    print(f"  code like {entity['qname']} (pgvector): "
          + ", ".join(f"{row['qname']} {row['similarity']:.2f}" for row in similar))
    events = [failed(f"t-cart-{n % 2}", "unit", "ValidationError", PY_TRACE, n) for n in range(4)]
    events += [failed("t-cart-ui", "web", "RangeError", JS_TRACE, n) for n in range(2)]
    counted = sum(row["failures"] or 0 for row in joined(settings))  # earlier demo runs' failures
    with EventGateway(settings) as gateway:
        gateway.publish_many(events)
    deadline, found = time.monotonic() + TIMEOUT_S, []
    # Each trace names 2 functions of the project: each failure adds its count to 2 rows of the join.
    while time.monotonic() < deadline and not (
            len(found := joined(settings)) >= 4 and sum(row["failures"] or 0 for row in found) >= counted + 12):
        time.sleep(1)
    print(f"  published {len(events)} failures with stack traces; failures joined to code (FAILED_IN + Failure):")
    for row in found:
        print(f"    {row['function']:<45} {row['error_type']:<16} {row['failures'] or 0:>4} failures  "
              f"tests {', '.join(sorted(row['tests']))}")
    print(f"  ask it yourself: argus-streams graph {PROJECT} --function check_quantity; "
          f"argus-streams graph {PROJECT} --like-text 'format a price'")
    return len(found) >= 4
