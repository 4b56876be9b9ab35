"""Fault injection on a local stack: what the reliability tests and `bench/soak.py` do to the servers.

Each fault is real: a SIGKILLed TaskManager process (the watchdog starts a new one, as Kubernetes would
restart a pod), or a server stopped and started again by the stack that owns it.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from argus_dev.stack.base import pid_alive, port_open
from argus_dev.stack.flink import FlinkService, python_workers
from argus_dev.stack.manager import Stack
from argus_streams.errors import ArgusStreamsError
from argus_streams.flink import cluster
from argus_streams.settings import Settings

RECOVERY_TIMEOUT_S = 300.0


@dataclass
class Outage:
    """What one fault did: when it started, how long the service was away."""

    service: str
    started: float = 0.0
    down_s: float = 0.0
    probes: int = 0  # connection attempts to the service's ports while it was meant to be away
    answered: int = 0  # ... that it accepted: an outage that did not happen


def orphaned_workers(stack: Stack) -> list[int]:
    """Python workers of this stack whose TaskManager is gone (parent pid 1): the watchdog kills them."""
    return python_workers(stack.service("flink").conf_dir, orphans_only=True)  # type: ignore[attr-defined]


KILL_TIMEOUT_S = 30.0


def kill_taskmanager(stack: Stack) -> int:
    """SIGKILL this stack's TaskManager JVM (no shutdown hooks: a crash) and wait until it is gone; returns its pid.

    SIGKILL returns before the kernel has torn down a JVM of a gigabyte or more: on a busy machine the process
    still showed as this stack's TaskManager right after the kill, and a check made then saw a healthy cluster.
    """
    flink = stack.service("flink")
    assert isinstance(flink, FlinkService)
    pids = flink._live("taskexecutor")
    if not pids:
        raise ArgusStreamsError("no TaskManager is running")
    os.kill(pids[0], signal.SIGKILL)
    deadline = time.monotonic() + KILL_TIMEOUT_S
    while pid_alive(pids[0]):
        if time.monotonic() > deadline:
            raise ArgusStreamsError(f"TaskManager {pids[0]} still runs {KILL_TIMEOUT_S:.0f} s after SIGKILL")
        time.sleep(0.05)
    return pids[0]


@contextmanager
def outage(stack: Stack, name: str, down_s: float) -> Iterator[Outage]:
    """Stop `name`, keep it down for `down_s` seconds (the body runs meanwhile), start it, wait for health.
    Its ports are probed twice a second meanwhile: `record.answered` counts the probes it accepted."""
    service = stack.service(name)
    record = Outage(name, started=time.monotonic())
    if not service.stop():
        raise ArgusStreamsError(f"{name} was not running: no outage to inject")
    away = threading.Event()

    def probe() -> None:  # the outage is a fact only if nobody could connect during it
        while not away.wait(0.5):
            record.probes += 1
            record.answered += any(port_open("127.0.0.1", port) for port in service.ports())

    prober = threading.Thread(target=probe, daemon=True)
    prober.start()
    try:
        yield record
        remaining = down_s - (time.monotonic() - record.started)
        if remaining > 0:
            time.sleep(remaining)
    finally:
        away.set()
        prober.join()
        service.start()
        service.wait_healthy()
        record.down_s = time.monotonic() - record.started


def wait_restored(settings: Settings, job_id: str, since_ms: int, timeout_s: float = RECOVERY_TIMEOUT_S) -> float:
    """Seconds until the job restored a checkpoint after `since_ms` (epoch ms) and every task runs again."""
    started = time.monotonic()
    deadline = started + timeout_s
    while time.monotonic() < deadline:
        restored = cluster.restored_checkpoint(settings, job_id)
        if restored is not None and restored["restore_timestamp"] >= since_ms:
            cluster.wait_running(settings, job_id, timeout_s=max(1.0, deadline - time.monotonic()))
            return time.monotonic() - started
        time.sleep(0.5)
    raise ArgusStreamsError(f"job {job_id} did not restore a checkpoint within {timeout_s:.0f}s")
