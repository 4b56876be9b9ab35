"""`argus-streams demo` (the README's first command) as a newcomer runs it, against the test stack: it passes,
and passes again when run a second time on the same stack, its jobs still running and the graph holding the
first run's counts. It uses the default topic prefix, consumer groups and graphs (no other test does).
Then `docs/capture.py` re-runs the docs' outputs on that stack, into a copy of the pages."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from argus_dev.demo import FAILURES_PER_TENANT, TENANTS
from argus_dev.stack.base import REPO_ROOT

from argus_streams.flink import cluster
from tests.conftest import cli_env


def demo(stack) -> subprocess.CompletedProcess:  # noqa: ANN001
    done = subprocess.run([sys.executable, "-m", "argus_streams.cli", "demo"], env=cli_env(stack),
                          capture_output=True, text=True, timeout=900, check=False)
    print(done.stdout, done.stderr[-3000:])
    return done


def region(page: Path, name: str) -> str:
    found = re.search(rf"<!-- capture: {name} -->\n(.*?)<!-- /capture -->", page.read_text(), re.S)
    assert found, (page, name)
    return found[1]


def check_the_captures(stack, demo_output: str, pages: Path) -> None:  # noqa: ANN001
    """The capture script, run on the stack the demo left, fills every region from real commands."""
    saved = pages / "demo.out"
    saved.write_text(demo_output)
    done = subprocess.run([sys.executable, str(REPO_ROOT / "docs" / "capture.py"), "--pages", str(pages),
                           "--demo-output", str(saved)], env=cli_env(stack), capture_output=True, text=True,
                          timeout=900, check=False)
    print(done.stdout, done.stderr[-3000:])
    assert done.returncode == 0
    docs = pages / "docs"
    assert region(pages / "README.md", "demo-short").count("\n") < region(docs / "getting-started.md", "demo").count(
        "\n")
    assert demo_output.replace(f"{REPO_ROOT}/", "").strip() in region(docs / "getting-started.md", "demo")
    status = region(docs / "cli.md", "status")
    assert status.startswith("\n```\n$ argus-streams status\n")
    assert all(re.search(rf"^{name} +healthy ", status, re.M) for name in ("kafka", "flink", "neo4j"))
    jobs = region(docs / "cli.md", "jobs")
    for name in cluster.JOBS:
        assert re.search(rf"^{name}: already running as [0-9a-f]{{32}}", jobs, re.M), name
    assert re.search(r"^argus-flink-failures +argus\.test\.failed ", jobs, re.M)
    assert "$ argus-streams sql run healing_outcomes\nwindow_start " in region(docs / "sql.md", "sql")
    metrics = region(docs / "operations.md", "metrics")
    assert re.search(r"^argus-failures +.* events +event_type=test_failed +\d+$", metrics, re.M)
    assert re.search(r"^argus-dlq +.* review_rows_inserted +- +\d+$", metrics, re.M)
    dlq = region(docs / "jobs" / "dlq.md", "dlq")
    assert "$ argus-streams dlq replay --tenant acme --dry-run\ndry run: would replay " in dlq
    assert re.search(r"^tenant: +acme$", dlq, re.M)
    assert "function api/validation.py::check_quantity" in region(docs / "jobs" / "knowledge-graph.md",
                                                                   "knowledge-graph")
    assert "'total' names 3 entities" in region(docs / "jobs" / "knowledge-graph.md", "code-like")


def test_the_demo_passes_and_passes_again(stack, tmp_path: Path) -> None:  # noqa: ANN001
    expected = FAILURES_PER_TENANT * len(TENANTS)
    try:
        first = demo(stack)
        assert first.returncode == 0
        for name in cluster.JOBS:
            assert re.search(rf"^job {name}: running as [0-9a-f]{{32}}", first.stdout, re.M), name
        assert f"failure graph: {expected} of this run's failures counted (expected {expected};" in first.stdout
        assert "review store (the DLQ job; data errors are not retried): 2 of this run's 2 bad records" in first.stdout
        assert re.search(r"failure 1 of .*' not found\): healed by healer -> ", first.stdout)
        assert re.search(r"failure 2 of .*' not found\): healed by cache -> ", first.stdout)

        again = demo(stack)
        assert again.returncode == 0
        for name in cluster.JOBS:
            assert f"job {name}: already running" in again.stdout
        assert f"failure graph: {expected} of this run's failures counted (expected {expected};" in again.stdout
        running = [job for job in cluster.list_jobs(stack.settings()) if job.state == "RUNNING"]
        for name in cluster.JOBS:
            assert sum(job.name == f"argus-{name}" for job in running) == 1, running
        check_the_captures(stack, again.stdout, tmp_path)
    finally:  # the demo's jobs would otherwise keep running (and taking CPU) through the rest of the suite
        for job in cluster.list_jobs(stack.settings()):
            if job.name in {f"argus-{name}" for name in cluster.JOBS} and job.state == "RUNNING":
                cluster.cancel(stack.settings(), job.id)
