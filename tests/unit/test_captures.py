"""The docs' captured outputs (docs/capture.py): every output a page shows is in a region the script re-runs,
every region names a capture the script makes, and the script changes a region's body and nothing else."""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path
from types import ModuleType

import pytest

REPO_ROOT = Path(__file__).parents[2]


@pytest.fixture(scope="module")
def capture() -> ModuleType:
    spec = importlib.util.spec_from_file_location("capture", REPO_ROOT / "docs" / "capture.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules["capture"] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def fences_outside_regions(capture: ModuleType, text: str) -> list[tuple[int, str]]:
    """(line, info string) of each fenced block that opens outside a capture region."""
    outside = capture.REGION.sub(lambda match: "\n" * match[0].count("\n"), text)
    found, inside = [], False
    for number, line in enumerate(outside.splitlines(), 1):
        if line.startswith("```"):
            if not inside:
                found.append((number, line[3:].strip()))
            inside = not inside
    return found


def test_every_region_names_a_capture_and_every_capture_is_shown(capture: ModuleType) -> None:
    shown = {name for page in capture.pages(REPO_ROOT) for name in capture.regions(page.read_text())}
    assert shown == set(capture.captures("a-review-id"))


def test_no_page_shows_an_output_outside_a_region(capture: ModuleType) -> None:
    """An untagged block is an output (commands are `bash`, code `python`, diagrams `mermaid`): outside a region
    it would be a hand copy. A `text` block outside one must not be a transcript either."""
    for page in capture.pages(REPO_ROOT):
        text = page.read_text()
        for number, info in fences_outside_regions(capture, text):
            assert info, f"{page.relative_to(REPO_ROOT)}:{number}: an output outside a capture region"
        transcripts = re.findall(r"```text\n(?:(?!```).)*^\$ argus-streams", capture.REGION.sub("", text),
                                 re.S | re.M)
        assert not transcripts, page


def test_the_regions_hold_one_block_each_with_blank_lines_around(capture: ModuleType) -> None:
    """Markdown renders a comment next to a fence only with blank lines between (mkdocs and GitHub alike)."""
    for page in capture.pages(REPO_ROOT):
        for match in capture.REGION.finditer(page.read_text()):
            assert re.fullmatch(r"\n```\n(?:(?!```).)*\n```\n\n", match["body"], re.S), (page, match["name"])


def test_a_rewrite_changes_the_region_bodies_only(capture: ModuleType) -> None:
    text = ("# Page\n\nbefore\n\n<!-- capture: status -->\n\n```\nold\n```\n\n<!-- /capture -->\n\nbetween\n\n"
            "<!-- capture: jobs -->\n\n```\nold too\n```\n\n<!-- /capture -->\nafter\n")
    bodies = {"status": "\n```\nnew\n```\n\n", "jobs": "\n```\nnew too\n```\n\n"}
    done = capture.rewrite(text, bodies)
    assert done == text.replace("old too", "new too").replace("\nold\n", "\nnew\n")
    assert capture.rewrite(done, bodies) == done
    assert capture.regions(done) == ["status", "jobs"]


def test_the_filters_keep_what_they_say_and_mark_what_they_leave_out(capture: ModuleType) -> None:
    lines = [f"line {i}" for i in range(10)]
    assert capture.head_tail(2, 1)(lines) == ["line 0", "line 1", "...", "line 9"]
    assert capture.head_tail(3)(lines) == ["line 0", "line 1", "line 2", "..."]
    assert capture.head_tail(8, 1)(lines) == lines  # leaving out one line would not shorten it
    assert capture.matching(r"[13]$", r"8")(lines) == ["...", "line 1", "...", "line 3", "...", "line 8", "..."]
    demo = ["a", "", "knowledge graph (x):", "  ingested", "  graph: 1", "", "Flink web UI"]
    assert capture.section("knowledge graph (")(demo) == ["knowledge graph (x):", "  ingested", "  graph: 1"]


def test_a_step_shows_its_command_as_a_user_types_it(capture: ModuleType) -> None:
    step = capture.Step(("graph", "shop", "--like-text", "format a price"), capture.head_tail(1), comment="why")
    assert step.shown("first\nsecond\nthird\n") == [
        "$ argus-streams graph shop --like-text 'format a price'   # why", "first", "..."]
