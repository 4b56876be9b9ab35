"""Re-run the commands whose output the docs show, and write their output into the pages.

    make docs-capture        (.venv/bin/python docs/capture.py: `argus-streams demo`, then the commands below,
                             against the stack ARGUS_STACK_DIR / ARGUS_STACK_PORT_OFFSET name, default the local one)

A page shows captured output only inside a region this script owns:

    <!-- capture: status -->
    ```
    $ argus-streams status
    ...
    ```
    <!-- /capture -->

The script replaces what is between the two markers and nothing else. `tests/unit/test_captures.py` fails when
a page names a capture this script does not make, or shows an untagged code block (an output) outside a
region; the integration test `test_demo.py` runs the script against the test stack into a copy of the pages.

    --pages DIR          rewrite copies of the pages in DIR (README.md and docs/ as in the repository)
    --demo-output FILE   use this saved output of `argus-streams demo` instead of running it

It exits 1, rewriting nothing, when a command fails. The one change made to an output: this checkout's absolute
path is cut from the paths it prints (`.state/stack/...`, as in any other checkout).
"""

from __future__ import annotations

import argparse
import json
import re
import shlex
import shutil
import subprocess
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

DOCS = Path(__file__).resolve().parent
REPO_ROOT = DOCS.parent
TIMEOUT_S = 900  # the demo, on a cold cluster; a bounded SQL query takes 10-30 s
REGION = re.compile(r"(<!-- capture: (?P<name>[\w-]+) -->\n)(?P<body>.*?)(<!-- /capture -->)", re.S)
ELLIPSIS = "..."

Filter = Callable[[list[str]], list[str]]


def pages(root: Path) -> list[Path]:
    """The Markdown files that may hold capture regions: the README and every page of the site."""
    return [root / "README.md", *sorted((root / "docs").rglob("*.md"))]


def regions(text: str) -> list[str]:
    """The capture names a page's regions use, in order."""
    return [match["name"] for match in REGION.finditer(text)]


def head_tail(head: int, tail: int = 0) -> Filter:
    """The first `head` and last `tail` lines, with `...` where lines were left out."""
    def keep(lines: list[str]) -> list[str]:
        if len(lines) <= head + tail + 1:
            return lines
        return [*lines[:head], ELLIPSIS, *(lines[-tail:] if tail else [])]
    return keep


def section(first: str) -> Filter:
    """The line starting with `first` and the lines after it, up to the next blank line."""
    def keep(lines: list[str]) -> list[str]:
        start = next(i for i, line in enumerate(lines) if line.startswith(first))
        end = next((i for i in range(start, len(lines)) if not lines[i].strip()), len(lines))
        return lines[start:end]
    return keep


def matching(*patterns: str) -> Filter:
    """The lines matching any of `patterns` (regexes), in order, with `...` for each run left out."""
    wanted = [re.compile(pattern) for pattern in patterns]

    def keep(lines: list[str]) -> list[str]:
        kept: list[str] = []
        for line in lines:
            if any(pattern.search(line) for pattern in wanted):
                kept.append(line)
            elif not kept or kept[-1] != ELLIPSIS:
                kept.append(ELLIPSIS)
        return kept
    return keep


@dataclass(frozen=True)
class Step:
    """One command and how much of its output a page shows."""

    argv: tuple[str, ...]
    keep: Filter | None = None
    comment: str = ""
    exit_code: int = 0  # a step may show an error: its standard error is then the output

    def shown(self, output: str) -> list[str]:
        lines = output.rstrip("\n").splitlines()
        command = f"$ argus-streams {shlex.join(self.argv)}" + (f"   # {self.comment}" if self.comment else "")
        return [command, *(self.keep(lines) if self.keep else lines)]


@dataclass
class Capture:
    """What one region shows: commands and their output, or a part of the demo's output."""

    steps: list[Step] = field(default_factory=list)
    demo: Filter | None = None  # a part of the demo's output (before the steps)


DEMO_SHORT = matching(
    r"^falkordb  ", r"^job failures: ", r"^published \d+ failures", r"^failure graph: ", r"^  tenant ",
    r"^review store ", r"^self-healing", r"^  failure \d of ", r"^  fix cached ", r"^knowledge graph ", r"^  graph: ",
    r"check_quantity +\w+Error", r"^  ask it yourself", r"^Flink web UI")


def captures(dlq_id: str | None) -> dict[str, Capture]:
    """Every capture the pages may show. `dlq_id` is a review row for `dlq show` (None: not yet known)."""
    return {
        "demo": Capture(demo=lambda lines: lines),
        "demo-short": Capture(demo=DEMO_SHORT),
        "knowledge-graph": Capture(
            demo=section("knowledge graph ("),
            steps=[Step(("graph", "shop", "--function", "check_quantity"))]),
        "code-neo4j": Capture(steps=[Step(
            ("graph", "shop", "--store", "neo4j", "--tenant", "acme", "--function", "Cart.add"), head_tail(3, 6))]),
        "code-like": Capture(steps=[
            Step(("graph", "shop", "--like", "Cart.add", "--limit", "3")),
            Step(("graph", "shop", "--like-text", "format a price", "--limit", "3")),
            Step(("graph", "shop", "--like", "total"), exit_code=1),
        ]),
        "status": Capture(steps=[Step(("status",))]),
        "jobs": Capture(steps=[
            Step(("topics", "list"), head_tail(2, 2)),
            Step(("job", "submit", "all")),
            Step(("job", "submit", "failures"), comment="again: nothing is submitted twice"),
            Step(("job", "list"), head_tail(6)),
            Step(("lag", "argus-flink-failures"), head_tail(3, 1), comment="Flink commits offsets on checkpoints"),
        ]),
        "metrics": Capture(steps=[Step(("metrics", "--job", "argus-failures")),
                                  Step(("metrics", "--job", "argus-dlq"))]),
        "sql": Capture(steps=[
            Step(("sql", "run", "failure_rate_per_suite"), head_tail(5, 1)),
            Step(("sql", "run", "healing_outcomes"), head_tail(5, 1)),
        ]),
        "dlq": Capture(steps=[
            Step(("dlq", "list", "--tenant", "acme", "--limit", "3")),
            Step(("dlq", "replay", "--tenant", "acme", "--dry-run")),
            *([Step(("dlq", "show", dlq_id), matching(r"^(?!    )", r"^    Traceback", r"^    \w+(\.\w+)*: "))]
              if dlq_id else []),
        ]),
    }


def run(argv: Sequence[str], exit_code: int = 0) -> str:
    """An `argus-streams` command's output (standard error when it is to fail); SystemExit with its own words
    when it exits otherwise than `exit_code`."""
    done = subprocess.run([sys.executable, "-m", "argus_streams.cli", *argv], capture_output=True, text=True,
                          timeout=TIMEOUT_S, check=False, cwd=REPO_ROOT)
    if done.returncode != exit_code:
        sys.exit(f"capture: `argus-streams {shlex.join(argv)}` exited {done.returncode} (expected {exit_code}):\n"
                 f"{done.stdout[-2000:]}{done.stderr[-2000:]}")
    output = done.stdout if exit_code == 0 else done.stderr
    return output.replace(f"{REPO_ROOT}/", "")  # paths as a user's own checkout would show them


def latest_review_id() -> str | None:
    """The newest review row of tenant acme (the demo's malformed records land there)."""
    rows = json.loads(run(("dlq", "list", "--tenant", "acme", "--limit", "1", "--json")))
    return str(rows[0]["id"]) if rows else None


def render(capture: Capture, demo_lines: list[str]) -> str:
    lines: list[str] = []
    if capture.demo:
        lines.extend(capture.demo(demo_lines))
    for step in capture.steps:
        if lines:
            lines.append("")
        lines.extend(step.shown(run(step.argv, step.exit_code)))
    return "\n```\n" + "\n".join(lines) + "\n```\n\n"


def rewrite(text: str, bodies: dict[str, str]) -> str:
    return REGION.sub(lambda match: match[1] + bodies[match["name"]] + match[4], text)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pages", type=Path, help="rewrite copies of the pages in this folder, not the pages")
    parser.add_argument("--demo-output", type=Path, help="a saved output of `argus-streams demo`")
    args = parser.parse_args(argv)
    root = REPO_ROOT
    if args.pages:
        root = args.pages
        shutil.copy(REPO_ROOT / "README.md", root / "README.md")
        shutil.copytree(REPO_ROOT / "docs", root / "docs", dirs_exist_ok=True)
    demo = args.demo_output.read_text().replace(f"{REPO_ROOT}/", "") if args.demo_output else run(("demo",))
    demo_lines = demo.rstrip("\n").splitlines()
    wanted = {name for page in pages(root) for name in regions(page.read_text())}
    known = captures(latest_review_id() if "dlq" in wanted else None)
    unknown = wanted - known.keys()
    if unknown:
        sys.exit(f"capture: the pages name captures this script does not make: {', '.join(sorted(unknown))}")
    bodies = {name: render(known[name], demo_lines) for name in sorted(wanted)}
    for page in pages(root):
        text = page.read_text()
        if regions(text):
            page.write_text(rewrite(text, bodies))
            print(f"{page.relative_to(root)}: {', '.join(regions(text))}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
