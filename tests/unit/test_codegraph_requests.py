"""The knowledge-graph job's logic without Flink: records to requests, graph rows, codebase.analyzed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from argus_streams.contract.dead_letters import SourceRecord
from argus_streams.contract.events import ArgusEvent
from argus_streams.errors import EventValidationError
from argus_streams.failures.logic import UnexpectedEventType
from argus_streams.knowledge_graph import analyze
from argus_streams.knowledge_graph.cognify import diff
from argus_streams.knowledge_graph.logic import analyzed_event, graph_row, parse_request, project_node_id

SAMPLE = Path(__file__).resolve().parents[1] / "codegraph_sample"
PY_TRACE = '''Traceback (most recent call last):
  File "/ci/shop/tests/test_cart.py", line 20, in test_rejects_zero
    Cart().add(Product("a", 1), 0)
  File "/ci/shop/api/models.py", line 19, in add
    check_quantity(qty)
  File "/ci/shop/api/validation.py", line 9, in check_quantity
    raise ValidationError(f"quantity must be positive, got {qty}")
api.validation.ValidationError: quantity must be positive, got 0'''


def record(event: ArgusEvent | bytes) -> SourceRecord:
    value = event if isinstance(event, bytes) else event.to_bytes()
    return SourceRecord(topic="t.codebase.ingested", partition=0, offset=7, key="k", value=value)


def event(kind: str, **payload: object) -> ArgusEvent:
    return ArgusEvent.new(kind, source="test", tenant_id="acme", payload=payload)


def test_requests_are_keyed_by_the_documented_partition_keys() -> None:
    ingested = parse_request(record(event("codebase.ingested", project_id="shop", codebase_path="shop")))
    created = parse_request(record(event("test.created", test_id="t1", test_name="n", test_type="unit",
                                         project_id="shop", test_suite_id="s1")))
    assert ingested.key == "acme\x00shop" and created.key == "acme\x00s1"


@pytest.mark.parametrize("value, error", [
    (b"{not json", EventValidationError),
    (event("test.executed", test_id="t", test_suite_id="s", project_id="p", run_id="r", build_id="b",
           status="passed", duration_ms=1).to_bytes(), UnexpectedEventType),
    (event("codebase.ingested", project_id="shop").to_bytes(), EventValidationError),  # no codebase_path
])
def test_bad_records_raise_for_the_dlq(value: bytes, error: type[Exception]) -> None:
    with pytest.raises(error):
        parse_request(record(value))


def test_test_created_row_names_its_targets_and_project() -> None:
    request = parse_request(record(event("test.created", test_id="t1", test_name="adds", test_type="unit",
                                         project_id="shop", test_spec={"targets": ["Cart.add", "line_total"]})))
    row = graph_row(request)
    assert row["targets"] == ["Cart.add", "line_total"] and row["project_node"] == project_node_id("acme", "shop")
    assert json.loads(row["spec"]) == {"targets": ["Cart.add", "line_total"]}
    bad = parse_request(record(event("test.created", test_id="t1", test_name="n", test_type="unit",
                                     project_id="shop", targets="Cart.add")))
    with pytest.raises(ValueError):
        graph_row(bad)


def test_test_failed_row_carries_the_signature_and_frames() -> None:
    request = parse_request(record(event(
        "test.failed", test_id="t1", test_suite_id="s1", project_id="shop", run_id="r1", build_id="b1",
        failure_details={"error_type": "api.validation.ValidationError", "message": "quantity must be positive, got 0",
                         "stack_trace": PY_TRACE})))
    row = graph_row(request)
    assert row["signature"].startswith("v1:") and row["error_type"] == "ValidationError"
    assert [f["function"] for f in row["frames"]] == ["check_quantity", "add", "test_rejects_zero"]


def test_codebase_analyzed_counts_and_a_stable_id() -> None:
    request = parse_request(record(event("codebase.ingested", project_id="shop", codebase_path="shop")))
    graph, extraction = analyze("shop", SAMPLE, "acme", "shop")
    analyzed = analyzed_event(request, graph, extraction, diff(graph, {}, set()), 12.34)
    assert analyzed.payload["files"] == 26 and analyzed.payload["entities"] == 58
    assert analyzed.payload["edges"] == len(graph.edges) and analyzed.payload["parse_errors"] == 0
    assert analyzed.payload["nodes_written"] == len(graph.nodes) and analyzed.payload["duration_ms"] == 12.3
    assert analyzed.partition_key() == b"shop" and analyzed.correlation_id == request.event.correlation_id
    again = analyzed_event(request, graph, extraction, diff(graph, {}, set()), 1)
    assert again.event_id == analyzed.event_id  # a replay publishes the same event id
