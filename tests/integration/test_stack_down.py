"""`argus-streams down` leaves no process behind: every server, both Flink JVMs and every Python worker, including
workers too busy to notice their TaskManager going away (issue 14 saw `down` leave 17 busy workers at full
CPU). It stops the whole test stack, so it runs after everything else (tests/conftest.py orders it)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from argus_dev.stack.flink import python_workers

from argus_streams.flink import cluster
from argus_streams.flink.spec import JobSpec
from tests.conftest import cli_env

pytestmark = pytest.mark.stops_stack


def alive(pid: int) -> bool:
    """Running or stopped; a zombie (killed, not yet reaped) is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def processes_of(state_dir: Path) -> set[int]:
    """Every process whose command line or environment names the stack's state folder: the servers (their
    data and config live there), the Flink JVMs and their Python workers (FLINK_CONF_DIR), the watchdog."""
    marker, found = str(state_dir.resolve()).encode(), set()
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or int(proc.name) == os.getpid():
            continue
        try:
            if marker in (proc / "cmdline").read_bytes() or marker in (proc / "environ").read_bytes():
                if alive(int(proc.name)):
                    found.add(int(proc.name))
        except OSError:
            continue
    return found


def descendants(roots: set[int]) -> set[int]:
    parents: dict[int, int] = {}
    for proc in Path("/proc").iterdir():
        try:
            if proc.name.isdigit():
                parents[int(proc.name)] = int((proc / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
    found, grew = set(roots), True
    while grew:
        more = {pid for pid, parent in parents.items() if parent in found and pid not in found}
        found |= more
        grew = bool(more)
    return {pid for pid in found if alive(pid)}


def cpu_ticks(pid: int) -> int:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime + stime


def test_down_stops_every_process_busy_python_workers_included(stack, settings, monkeypatch, tmp_path) -> None:  # noqa: ANN001
    flink = stack.service("flink")
    monkeypatch.setitem(cluster.JOBS, "busy", JobSpec("busy", "tests.integration.busy_job", "busy",
                                                      script=Path(__file__).with_name("busy_job.py")))
    idle = set(python_workers(flink.conf_dir))  # earlier tests' jobs may still run
    cluster.submit(settings, "busy", stack_env=stack.layout.secrets_file)  # its source finishes at once
    deadline = time.monotonic() + 120
    while len(set(python_workers(flink.conf_dir)) - idle) < 2 and time.monotonic() < deadline:
        time.sleep(1)
    busy = sorted(set(python_workers(flink.conf_dir)) - idle)
    assert len(busy) >= 2, f"the busy job's Python workers never started: {busy}"
    ticks = {pid: cpu_ticks(pid) for pid in busy}
    deadline = time.monotonic() + 60
    while not any(cpu_ticks(pid) - ticks[pid] > 100 for pid in busy) and time.monotonic() < deadline:
        time.sleep(1)  # until a worker is in the regex (over 1 s of CPU)
    assert any(cpu_ticks(pid) - ticks[pid] > 100 for pid in busy), "no worker got busy"
    daemons = {service.name: service.pid() for service in stack.services}
    assert all(daemons.values()), daemons
    # FalkorDB (redis) rewrites its command line: its pid and its children are found from its pid file
    before = processes_of(stack.layout.state_dir) | descendants({pid for pid in daemons.values() if pid})
    assert set(busy) <= before
    out, err = tmp_path / "down.out", tmp_path / "down.err"  # files, not pipes: nothing can hold them open
    with out.open("w") as stdout, err.open("w") as stderr:  # as a user runs it
        down = subprocess.Popen([sys.executable, "-m", "argus_streams.cli", "down"], stdout=stdout, stderr=stderr,
                                env=cli_env(stack, PYTHONFAULTHANDLER="1"))
        try:
            # Two workers spinning in C on two cores starve every new process (measured: `import argus_streams.cli`
            # took 83 s of wall time for 0.3 s of CPU while they ran, 0.37 s after): `down` needs minutes to start.
            down.wait(timeout=600)
        except subprocess.TimeoutExpired:
            down.send_signal(signal.SIGABRT)  # the fault handler prints where each thread waits
            down.wait(timeout=30)
    print(out.read_text(), err.read_text())
    assert down.returncode == 0
    assert {line.split()[0]: " ".join(line.split()[1:]) for line in out.read_text().splitlines()} == {
        service.name: "stopped" for service in stack.services}
    deadline = time.monotonic() + 15  # killed processes are reaped by their new parent
    while any(alive(pid) for pid in before) and time.monotonic() < deadline:
        time.sleep(0.5)
    left = {pid: Path(f"/proc/{pid}/cmdline").read_bytes()[:200] for pid in before if alive(pid)}
    assert left == {}, left
    assert processes_of(stack.layout.state_dir) == set()
    assert python_workers(flink.conf_dir) == []
    assert all(not service.is_running() for service in stack.services)
