"""Resource figures for the side-by-side benchmark: peak RSS and CPU seconds of a process tree, and py-spy.

A `TreeSampler` polls a set of root processes and their descendants (psutil) in a thread: peak RSS is the
largest sum seen at one instant, CPU seconds the growth of user+system time per process since it was first
seen (processes that exit mid-phase keep what they had used).
"""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import psutil

SAMPLE_INTERVAL_S = 0.2
_LINE = re.compile(r":\d+\)$")


def _cpu(process: psutil.Process) -> float:
    times = process.cpu_times()
    return times.user + times.system


class TreeSampler(threading.Thread):
    """Peak RSS (bytes) and CPU seconds of `roots()` and every descendant, from start() to stop().

    `fresh=True` counts each process's CPU from zero (it was started for this phase); otherwise from what
    it had used when first seen (a long-running server such as the TaskManager or FalkorDB), and the
    descendants already there at start() (Python workers of earlier jobs, still exiting) are left out.
    """

    def __init__(self, roots: Callable[[], list[psutil.Process]], fresh: bool):
        super().__init__(daemon=True)
        self.roots, self.fresh = roots, fresh
        self.peak_rss = 0
        self._base: dict[int, float] = {}
        self._last: dict[int, float] = {}
        self._done = threading.Event()
        self._ignored: set[int] = set()

    def _tree(self) -> list[psutil.Process]:
        processes = []
        for root in self.roots():
            try:
                processes += [root, *root.children(recursive=True)]
            except psutil.Error:
                continue
        return processes

    def sample(self) -> None:
        rss = 0
        for process in self._tree():
            if process.pid in self._ignored:
                continue
            try:
                used, rss = _cpu(process), rss + process.memory_info().rss
            except psutil.Error:
                continue
            self._base.setdefault(process.pid, 0.0 if self.fresh else used)
            self._last[process.pid] = used
        self.peak_rss = max(self.peak_rss, rss)

    def run(self) -> None:
        while not self._done.is_set():
            self.sample()
            time.sleep(SAMPLE_INTERVAL_S)

    def start(self) -> None:
        if not self.fresh:
            roots = {root.pid for root in self.roots()}
            self._ignored = {p.pid for p in self._tree() if p.pid not in roots}
        self.sample()  # the baseline, before anything of the phase runs
        super().start()

    def stop(self) -> tuple[float, float]:
        """(peak RSS in MB, CPU seconds) up to now."""
        self._done.set()
        self.join()
        self.sample()
        return self.peak_rss / 2**20, sum(self._last[pid] - self._base[pid] for pid in self._last)

    def roots_cpu(self) -> float:
        """CPU seconds of the roots alone (the TaskManager JVM without its Python workers)."""
        roots = {root.pid for root in self.roots()}
        return sum(self._last[pid] - self._base[pid] for pid in self._last if pid in roots)


def taskmanagers(state_dir: Path) -> list[psutil.Process]:
    """The TaskManager JVMs of the stack in `state_dir` (its log file lives there); Python workers are children."""
    found = []
    for process in psutil.process_iter(["cmdline"]):
        cmdline = process.info["cmdline"] or []
        if "org.apache.flink.runtime.taskexecutor.TaskManagerRunner" in cmdline and any(
                arg.startswith("-Dlog.file=") and str(state_dir.resolve()) in arg for arg in cmdline):
            found.append(process)
    return found


def python_workers(state_dir: Path) -> list[psutil.Process]:
    return [child for tm in taskmanagers(state_dir) for child in tm.children(recursive=True)
            if "pyflink.fn_execution.beam.beam_boot" in " ".join(child.cmdline())]


def server_on_port(name: str, port: int) -> list[psutil.Process]:
    """A server process by executable name and the port in its command line (FalkorDB: redis-server)."""
    return [p for p in psutil.process_iter(["name", "cmdline"])
            if p.info["name"] == name and any(arg.endswith(f":{port}") for arg in p.info["cmdline"] or [])]


# py-spy ----------------------------------------------------------------------------------------------------
def start_py_spy(pids: list[int], out_dir: Path, rate: int = 50) -> list[tuple[subprocess.Popen, Path]]:
    """`py-spy record --format raw` (collapsed stacks) on each pid until stopped; --nonblocking keeps the
    workers running at full speed while sampled, --gil samples only the thread running Python code (the
    workers' gRPC threads otherwise fill the profile with waits)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    spies = []
    for pid in pids:
        path = out_dir / f"py-spy-{pid}.txt"
        command = [str(Path(sys.executable).parent / "py-spy"), "record", "--pid", str(pid), "--format", "raw",
                   "--rate", str(rate), "--nonblocking", "--gil", "--output", str(path)]
        spies.append((subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL), path))
    return spies


def stop_py_spy(spies: list[tuple[subprocess.Popen, Path]]) -> list[Path]:
    for spy, _ in spies:
        spy.send_signal(signal.SIGINT)  # py-spy writes its output on Ctrl-C
    for spy, _ in spies:
        try:
            spy.wait(timeout=30)
        except subprocess.TimeoutExpired:
            spy.kill()
    return [path for _, path in spies if path.is_file()]


def hot_frames(collapsed: list[str], top: int = 15) -> dict[str, list[tuple[str, float]]]:
    """From collapsed stacks (`a;b;c 12`): the share of samples per frame where it is the leaf (self) and
    where it is anywhere on the stack (inclusive)."""
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = 0
    for line in collapsed:
        stack, _, count = line.rstrip().rpartition(" ")
        if not stack or not count.isdigit():
            continue
        frames = [_LINE.sub(")", frame) for frame in stack.split(";")]  # by function, not by line
        total += int(count)
        own[frames[-1]] += int(count)
        for frame in set(frames):
            inclusive[frame] += int(count)
    share = (lambda c: [(frame, round(n / total, 4)) for frame, n in c.most_common(top)]) if total else (
        lambda c: [])
    return {"samples": [("total", float(total))], "self": share(own), "inclusive": share(inclusive)}
