"""`argus-streams graph`: the command line and what it prints (the queries run in the integration test)."""

from __future__ import annotations

from argus_streams.cli import build_parser
from argus_streams.cli.graph import cmd_graph, format_function, format_summary

SUMMARY = {"nodes": {"Project": 1, "File": 26, "Class": 10, "Function": 40, "Test": 8},
           "edges": {"CALLS": 34, "CONTAINS": 26}, "links": {"FAILED_IN": 2}, "event_tests": 1,
           "parse_errors": [{"path": "api/broken.py", "error": "SyntaxError: invalid syntax"}]}


def test_the_command_is_registered() -> None:
    args = build_parser().parse_args(["graph", "shop", "--function", "Cart.add", "--store", "neo4j"])
    assert args.handler is cmd_graph and (args.project, args.function, args.store) == ("shop", "Cart.add", "neo4j")


def test_summary_lists_counts_by_label_and_the_parse_errors() -> None:
    lines = format_summary("shop", "acme", SUMMARY)
    assert lines[0] == "project shop (tenant acme)" and "  Function     40" in lines
    assert "  edges    CALLS 34, CONTAINS 26" in lines and "    api/broken.py: SyntaxError: invalid syntax" in lines


def test_function_report_lists_tests_and_failures() -> None:
    report = {"failures": [{"function": "api/models.py::Cart.add", "test": "t-py", "error_type": "ValidationError",
                            "last_seen": "2026-11-27T10:00:00Z", "failures": 3}],
              "tests": [{"function": "api/models.py::Cart.add", "test": "t-checkout"}]}
    lines = format_function("Cart.add", report)
    assert lines[:3] == ["function api/models.py::Cart.add", "  tested by: t-checkout", "  failing tests: 1"]
    assert lines[3].split() == ["t-py", "ValidationError", "last", "2026-11-27T10:00:00Z,", "3", "failures"]
    assert format_function("nope", {"failures": [], "tests": []}) == ["function nope: not in the graph"]
