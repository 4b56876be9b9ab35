"""Fault injection on a local stack: what the reliability tests and `bench/soak.py` do to the servers.

Each fault is real: a SIGKILLed TaskManager process (the watchdog starts a new one, as Kubernetes would
restart a pod), or a server stopped and started again by the stack that owns it.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from argus_streams import flink_jobs
from argus_streams.errors import ArgusStreamsError
from argus_streams.settings import Settings
from argus_streams.stack.flink import FlinkService, python_workers
from argus_streams.stack.manager import Stack

RECOVERY_TIMEOUT_S = 300.0


@dataclass
class Outage:
    """What one fault did: when it started, how long the service was away."""

    service: str
    started: float = 0.0
    down_s: float = 0.0


def orphaned_workers(stack: Stack) -> list[int]:
    """Python workers of this stack whose TaskManager is gone (parent pid 1): the watchdog kills them."""
    return python_workers(stack.service("flink").conf_dir, orphans_only=True)  # type: ignore[attr-defined]


def kill_taskmanager(stack: Stack) -> int:
    """SIGKILL this stack's TaskManager JVM (no shutdown hooks: a crash); returns its pid."""
    flink = stack.service("flink")
    assert isinstance(flink, FlinkService)
    pids = flink._live("taskexecutor")
    if not pids:
        raise ArgusStreamsError("no TaskManager is running")
    os.kill(pids[0], signal.SIGKILL)
    return pids[0]


@contextmanager
def outage(stack: Stack, name: str, down_s: float) -> Iterator[Outage]:
    """Stop `name`, keep it down for `down_s` seconds (the body runs meanwhile), start it, wait for health."""
    service = stack.service(name)
    record = Outage(name, started=time.monotonic())
    service.stop()
    try:
        yield record
        remaining = down_s - (time.monotonic() - record.started)
        if remaining > 0:
            time.sleep(remaining)
    finally:
        service.start()
        service.wait_healthy()
        record.down_s = time.monotonic() - record.started


def wait_restored(settings: Settings, job_id: str, since_ms: int, timeout_s: float = RECOVERY_TIMEOUT_S) -> float:
    """Seconds until the job restored a checkpoint after `since_ms` (epoch ms) and every task runs again."""
    started = time.monotonic()
    deadline = started + timeout_s
    while time.monotonic() < deadline:
        restored = flink_jobs.restored_checkpoint(settings, job_id)
        if restored is not None and restored["restore_timestamp"] >= since_ms:
            flink_jobs.wait_running(settings, job_id, timeout_s=max(1.0, deadline - time.monotonic()))
            return time.monotonic() - started
        time.sleep(0.5)
    raise ArgusStreamsError(f"job {job_id} did not restore a checkpoint within {timeout_s:.0f}s")
