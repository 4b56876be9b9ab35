"""`argus-streams demo` (the README's first command) as a newcomer runs it, against the test stack: it passes,
and passes again when run a second time on the same stack, its jobs still running and the graph holding the
first run's counts. It uses the default topic prefix, consumer groups and graphs (no other test does)."""

from __future__ import annotations

import os
import re
import subprocess
import sys

from argus_streams import flink_jobs
from argus_streams.demo import FAILURES_PER_TENANT, TENANTS
from argus_streams.stack.base import PORT_OFFSET_VAR, STACK_DIR_VAR, Ports


def demo(stack) -> subprocess.CompletedProcess:  # noqa: ANN001
    env = {**os.environ, STACK_DIR_VAR: str(stack.layout.state_dir),
           PORT_OFFSET_VAR: str(stack.layout.ports.kafka - Ports().kafka)}
    for name in ("ARGUS_STACK_ENV", "ARGUS_TOPIC_PREFIX"):
        env.pop(name, None)
    done = subprocess.run([sys.executable, "-m", "argus_streams.cli", "demo"], env=env, capture_output=True,
                          text=True, timeout=900, check=False)
    print(done.stdout, done.stderr[-3000:])
    return done


def test_the_demo_passes_and_passes_again(stack) -> None:  # noqa: ANN001
    expected = FAILURES_PER_TENANT * len(TENANTS)
    try:
        first = demo(stack)
        assert first.returncode == 0
        for name in flink_jobs.JOBS:
            assert re.search(rf"^job {name}: running as [0-9a-f]{{32}}", first.stdout, re.M), name
        assert f"failure graph: {expected} of this run's failures counted (expected {expected};" in first.stdout
        assert "review store (the DLQ job; data errors are not retried): 2 of this run's 2 bad records" in first.stdout
        assert re.search(r"failure 1 of .*' not found\): healed by healer -> ", first.stdout)
        assert re.search(r"failure 2 of .*' not found\): healed by cache -> ", first.stdout)

        again = demo(stack)
        assert again.returncode == 0
        for name in flink_jobs.JOBS:
            assert f"job {name}: already running" in again.stdout
        assert f"failure graph: {expected} of this run's failures counted (expected {expected};" in again.stdout
        running = [job for job in flink_jobs.list_jobs(stack.settings()) if job.state == "RUNNING"]
        for name in flink_jobs.JOBS:
            assert sum(job.name == f"argus-{name}" for job in running) == 1, running
    finally:  # the demo's jobs would otherwise keep running (and taking CPU) through the rest of the suite
        for job in flink_jobs.list_jobs(stack.settings()):
            if job.name in {f"argus-{name}" for name in flink_jobs.JOBS} and job.state == "RUNNING":
                flink_jobs.cancel(stack.settings(), job.id)
