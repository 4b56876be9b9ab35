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


def test_down_stops_a_watchdog_started_by_an_earlier_version_whose_script_lived_elsewhere(tmp_path: Path) -> None:
    """Upgrading with the stack up (the script moved to dev/ in the layout change): the old watchdog was kept
    alive by `down`, and started the TaskManager again 40 minutes later."""
    from argus_dev.stack.base import StackLayout
    from argus_dev.stack.flink import FlinkService

    old_script = tmp_path / "old" / "argus_streams" / "stack" / "flink_watchdog.sh"
    other_script = tmp_path / "other.sh"
    for script in (old_script, other_script):
        script.parent.mkdir(parents=True, exist_ok=True)
        script.write_text("sleep 120\n")
    layout = StackLayout(state_dir=tmp_path / "stack")
    layout.run_dir.mkdir(parents=True)
    flink = FlinkService(layout, {})
    old, other = (subprocess.Popen(["bash", str(script)], start_new_session=True)
                  for script in (old_script, other_script))
    try:
        flink._watchdog_pid_path.write_text(str(other.pid))
        assert flink._watchdog_pid() is None  # a pid now running something else is never ours
        flink._watchdog_pid_path.write_text(str(old.pid))
        assert flink._watchdog_pid() == old.pid
        flink._stop_watchdog()
        assert old.wait(timeout=10) == -15
        assert other.poll() is None
    finally:
        for proc in (old, other):
            proc.kill()
            proc.wait()
