"""The knowledge-graph job on the real stack: a codebase through Kafka -> the exact code graph in FalkorDB and
Neo4j and a vector per class and function in PostgreSQL; re-ingests (same event, rename/delete/edit/broken
file) -> the exact new graph and vectors; test events linked to code; paths outside CODEBASE_ROOT and bad
records -> DLQ; `argus-streams graph --like` answers from the job's vectors."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path
from typing import Any

import pytest

from argus_streams.bus.gateway import EventGateway
from argus_streams.bus.io import consumer
from argus_streams.cli import main
from argus_streams.contract.events import ArgusEvent
from argus_streams.flink import cluster
from argus_streams.knowledge_graph.queries import code_graph, event_tests, failures_in_code, function_report
from argus_streams.knowledge_graph.vectors import CodeVectorStore
from tests.integration.test_failures_job import raw_producer, read_dlq, wait_for
from tests.unit import test_codegraph_extract as sample
from tests.unit.test_codegraph_requests import PY_TRACE

PROJECT = "shop"
JS_TRACE = """RangeError: quantity must be positive
    at CartModel.validate (/ci/shop/web/src/models/cart.ts:25:13)
    at CartModel.add (/ci/shop/web/src/models/cart.ts:14:10)
    at Object.<anonymous> (/ci/shop/web/src/models/cart.test.ts:12:30)"""

Graph = tuple[set[tuple[str, str]], set[tuple[str, str, str]]]


def expected_sample_graph() -> Graph:
    files = sample.PY_FILES | sample.PY_TEST_FILES | sample.TS_FILES | sample.TS_TEST_FILES
    nodes = {("Project", PROJECT)} | {("File", f) for f in files} | {("Class", c) for c in sample.CLASSES} \
        | {("Function", f) for f in sample.FUNCTIONS} | {("Test", t) for t in sample.TESTS}
    pairs = {"DEFINES": sample.expected_defines(), "IMPORTS": sample.IMPORTS, "CALLS": sample.CALLS,
             "EXTENDS": sample.EXTENDS, "TESTS": sample.TESTED}
    edges = {("CONTAINS", PROJECT, f) for f in files} | {(t, s, d) for t, ps in pairs.items() for s, d in ps}
    return nodes, edges


def expected_after_change() -> Graph:
    """money.ts deleted, discount_rate renamed rate_for, line_total edited, api/broken.py added (unparsable)."""
    nodes, edges = expected_sample_graph()
    gone = {q for _, q in nodes if q.startswith("web/src/utils/money.ts") or q.endswith("::discount_rate")}
    nodes = {(label, q) for label, q in nodes if q not in gone} | {
        ("Function", "api/pricing.py::rate_for"), ("File", "api/broken.py")}
    edges = {e for e in edges if e[1] not in gone and e[2] not in gone} | {
        ("DEFINES", "api/pricing.py", "api/pricing.py::rate_for"),
        ("CALLS", "api/pricing.py::apply_discount", "api/pricing.py::rate_for"),
        ("CONTAINS", PROJECT, "api/broken.py")}
    return nodes, edges


def held(settings: Any, tenant: str, store: str) -> Graph:
    nodes, edges = code_graph(settings, tenant, PROJECT, store)
    return {key for key in nodes}, edges


class Analyzed:
    """codebase.analyzed events as they are committed (the sink is transactional: read_committed)."""

    def __init__(self, settings: Any):
        self.reader = consumer(settings, [f"{settings.topic_prefix}.codebase.analyzed"],
                               isolation_level="read_committed")
        self.events: list[ArgusEvent] = []

    def next(self, timeout_s: float = 120) -> ArgusEvent:
        deadline = time.monotonic() + timeout_s
        seen = len(self.events)
        while len(self.events) == seen and time.monotonic() < deadline:
            for batch in self.reader.poll(timeout_ms=500).values():
                self.events.extend(ArgusEvent.from_json(r.value) for r in batch)
        assert len(self.events) > seen, "no codebase.analyzed event"
        return self.events[seen]


def ingested(tenant: str, path: str, commit: str) -> ArgusEvent:
    return ArgusEvent.new("codebase.ingested", source="it", tenant_id=tenant,
                          payload={"project_id": PROJECT, "codebase_path": path, "commit_sha": commit})


def submit(stack: Any, settings: Any, root: Path, extra_args: tuple[str, ...] = (), from_path: str | None = None
           ) -> str:
    job_id = cluster.submit(
        settings, "knowledge-graph", stack_env=stack.layout.secrets_file, from_path=from_path,
        job_args=("--topic-prefix", settings.topic_prefix, "--graph", settings.falkordb_graph,
                  "--group-id", f"{settings.topic_prefix}-kg", "--codebase-root", str(root), "--parallelism", "2",
                  *extra_args),
    )
    cluster.wait_running(settings, job_id)
    return job_id


def assert_graph(settings: Any, tenant: str, expected: Graph) -> None:
    for store in ("falkordb", "neo4j"):
        nodes, edges = held(settings, tenant, store)
        assert nodes == expected[0], (store, nodes ^ expected[0])
        assert edges == expected[1], (store, edges ^ expected[1])


def embedded(settings: Any, tenant: str) -> set[str]:
    with CodeVectorStore.from_settings(settings) as store:
        return set(store.vectors(tenant, PROJECT))


def test_codebase_to_exact_graph_reingest_links_and_dlq(stack, settings, tmp_path: Path,  # noqa: ANN001
                                                         monkeypatch: pytest.MonkeyPatch,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    tenant = f"{settings.topic_prefix}-acme"
    root = tmp_path / "codebases"
    home = root / tenant  # the tenant's codebases: CODEBASE_ROOT/<tenant_id>/...
    shutil.copytree(sample.SAMPLE, home / PROJECT)
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "secret.py").write_text("TOKEN = 'never read'\n")
    (home / "escape").symlink_to(tmp_path / "outside")
    first = ingested(tenant, PROJECT, "c1")
    other = f"{settings.topic_prefix}-globex"
    refused = [ingested(tenant, str(tmp_path / "outside"), "x1"), ingested(tenant, "../../outside", "x2"),
               ingested(tenant, "escape", "x3"),
               ingested(other, str(home / PROJECT), "x4"), ingested(other, f"../{tenant}/{PROJECT}", "x5")]
    with EventGateway(settings) as gateway:
        gateway.publish_many([first, *refused])
    producer = raw_producer(settings)
    producer.send(f"{settings.topic_prefix}.codebase.ingested", key=b"bad-0", value=b"{truncated",
                  headers=[("tenant_id", tenant.encode())])
    producer.flush()

    analyzed = Analyzed(settings)
    job_id = submit(stack, settings, root)
    try:
        event = analyzed.next()
        assert event.payload["files"] == 26 and event.payload["entities"] == 58
        assert event.payload["parse_errors"] == 0 and event.payload["nodes_written"] == 85
        assert event.correlation_id == first.correlation_id
        assert_graph(settings, tenant, expected_sample_graph())
        assert event.payload["embeddings_written"] == 50
        assert embedded(settings, tenant) == sample.CLASSES | sample.FUNCTIONS

        # "Which code is like X", from the command line, over what the job stored.
        monkeypatch.setenv("ARGUS_STACK_ENV", str(stack.layout.secrets_file))
        capsys.readouterr()
        assert main(["graph", PROJECT, "--tenant", tenant, "--like", "check_quantity", "--limit", "2", "--json"]) == 0
        like = json.loads(capsys.readouterr().out)
        assert like["like"]["qname"] == "api/validation.py::check_quantity"
        assert [row["qname"] for row in like["similar"]] == ["web/src/models/cart.ts::CartModel.validate",
                                                             "api/validation.py::ValidationError"]
        assert main(["graph", PROJECT, "--tenant", "someone-else", "--like", "check_quantity"]) == 1

        # The same event again (a replayed record): nothing to write, the graph unchanged.
        producer.send(f"{settings.topic_prefix}.codebase.ingested", key=PROJECT.encode(), value=first.to_bytes())
        producer.flush()
        again = analyzed.next()
        assert (again.payload["nodes_written"], again.payload["nodes_deleted"], again.payload["edges_written"],
                again.payload["edges_deleted"]) == (0, 0, 0, 0)
        assert again.event_id == event.event_id  # the same ingested event: the same analyzed id
        assert (again.payload["embeddings_written"], again.payload["embeddings_deleted"]) == (0, 0)
        assert_graph(settings, tenant, expected_sample_graph())

        # Tests: one created with the code it names, failures whose stack frames name functions.
        created = ArgusEvent.new("test.created", source="it", tenant_id=tenant, payload={
            "test_id": "t-checkout", "test_name": "checkout applies the discount", "test_type": "e2e",
            "project_id": PROJECT, "test_suite_id": "s-e2e", "targets": ["checkout", "Cart.add"]})
        failures = [ArgusEvent.new("test.failed", source="it", tenant_id=tenant, payload={
            "test_id": test, "test_suite_id": "s-unit", "project_id": PROJECT, "run_id": f"r-{n}",
            "build_id": "b-1", "failure_details": {"error_type": error, "message": "quantity must be positive",
                                                   "stack_trace": trace}})
            for n, (test, error, trace) in enumerate([("t-py", "ValidationError", PY_TRACE),
                                                      ("t-js", "RangeError", JS_TRACE)])]
        with EventGateway(settings) as gateway:
            gateway.publish_many([created, *failures, failures[0]])  # a duplicate failure changes nothing
        expected_links = {("api/validation.py::check_quantity", "t-py"), ("api/models.py::Cart.add", "t-py"),
                          ("web/src/models/cart.ts::CartModel.validate", "t-js"),
                          ("web/src/models/cart.ts::CartModel.add", "t-js")}
        for store in ("falkordb", "neo4j"):
            wait_for(lambda s=store: ({(r["function"], r["test"]) for r in failures_in_code(
                settings, tenant, PROJECT, s)} == expected_links,
                failures_in_code(settings, tenant, PROJECT, s)), timeout_s=60, what=f"FAILED_IN in {store}")
            wait_for(lambda s=store: ({(r["test"], r["target"]) for r in event_tests(settings, tenant, PROJECT, s)}
                                      == {("t-checkout", "api/services.py::checkout"),
                                          ("t-checkout", "api/models.py::Cart.add")},
                                      event_tests(settings, tenant, PROJECT, s)), timeout_s=60, what="TESTS")
            assert len(failures_in_code(settings, tenant, PROJECT, store)) == 4  # one edge per (test, function, sig)
            report = function_report(settings, tenant, PROJECT, "check_quantity", store)
            assert [(r["test"], r["error_type"]) for r in report["failures"]] == [("t-py", "ValidationError")]

        # Rename, delete, edit and a broken file: the exact new graph; the code graph's diff only.
        pricing = home / PROJECT / "api/pricing.py"
        pricing.write_text(pricing.read_text().replace("discount_rate", "rate_for")
                           .replace("return product.price * qty", "return qty * product.price"))
        (home / PROJECT / "web/src/utils/money.ts").unlink()
        (home / PROJECT / "api/broken.py").write_text("def oops(:\n")
        with EventGateway(settings) as gateway:
            gateway.publish(ingested(tenant, PROJECT, "c2"))
        changed = analyzed.next()
        assert changed.payload["parse_errors"] == 1 and list(changed.payload["parse_error_files"]) == ["api/broken.py"]
        assert changed.payload["files"] == 26 and changed.payload["entities"] == 58 - 2
        # pricing.py, rate_for, apply_discount, line_total, broken.py, the project (its commit changed? no: path)
        assert changed.payload["nodes_deleted"] == 4  # money.ts, formatPrice, applyRate, discount_rate
        assert changed.payload["nodes_written"] == 5  # pricing.py, rate_for, apply_discount, line_total, broken.py
        assert_graph(settings, tenant, expected_after_change())
        assert (changed.payload["embeddings_written"], changed.payload["embeddings_deleted"]) == (3, 3)
        assert embedded(settings, tenant) == {q for label, q in expected_after_change()[0]
                                              if label in ("Class", "Function")}
        nodes, _ = code_graph(settings, tenant, PROJECT, "neo4j")
        assert nodes[("File", "api/broken.py")]["parse_error"].startswith("SyntaxError")
        # Links to code that still exists survive a re-ingest.
        assert len(failures_in_code(settings, tenant, PROJECT, "neo4j")) == 4

        letters = [json.loads(r.value) for r in read_dlq(settings, expected=6, job_id=job_id)]
        assert sorted(letter["payload"]["error_type"] for letter in letters) == [
            "EventValidationError", *["PathRefused"] * 5]
        refused_paths = {(letter["tenant_id"],
                          json.loads(letter["payload"]["original_value"])["payload"]["codebase_path"])
                         for letter in letters if letter["payload"]["error_type"] == "PathRefused"}
        # another tenant's checkout is refused like any path outside the tenant's own folder
        assert refused_paths == {(tenant, str(tmp_path / "outside")), (tenant, "../../outside"), (tenant, "escape"),
                                 (other, str(home / PROJECT)), (other, f"../{tenant}/{PROJECT}")}
        for store in ("falkordb", "neo4j"):
            assert code_graph(settings, other, PROJECT, store) == ({}, set()), store  # nothing of acme's for globex
        assert all(letter["payload"]["original_offset"] is not None for letter in letters)
    finally:
        producer.close()
        analyzed.reader.close()
        cluster.cancel(settings, job_id)
