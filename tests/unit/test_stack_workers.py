"""`down` stops the cluster's Python workers too: a busy worker outlives its TaskManager (issue 14 saw 17)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from argus_dev.stack.flink import kill_python_workers, python_workers


def worker(conf: Path) -> subprocess.Popen:
    """A process shaped like PyFlink's worker: `beam_boot` on its command line, the cluster's conf dir."""
    return subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)", "beam_boot"],
                            env={**os.environ, "FLINK_CONF_DIR": str(conf)})


def test_only_this_clusters_workers_are_found_and_killed(tmp_path: Path) -> None:
    ours, theirs = worker(tmp_path / "ours"), worker(tmp_path / "theirs")
    try:
        deadline = time.monotonic() + 10
        while ours.pid not in python_workers(tmp_path / "ours") and time.monotonic() < deadline:
            time.sleep(0.05)  # until the child has exec'd
        assert python_workers(tmp_path / "ours") == [ours.pid]
        assert python_workers(tmp_path / "ours", orphans_only=True) == []  # its parent is this test
        assert kill_python_workers(tmp_path / "ours") == [ours.pid]
        assert ours.wait(timeout=10) == -9
        assert theirs.poll() is None  # another cluster's worker is never touched
    finally:
        for proc in (ours, theirs):
            proc.kill()
            proc.wait()
