"""Submit, list, cancel and savepoint our jobs on a Flink session cluster (the wheel's `flink run` + REST)."""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import requests

from argus_streams.errors import ArgusStreamsError
from argus_streams.flink.spec import JOBS
from argus_streams.settings import DEFAULT_TOPIC_PREFIX, STACK_ENV_VAR, Settings

SUBMIT_TIMEOUT_S = 300
ENDED_STATES = frozenset({"FINISHED", "CANCELED", "FAILED"})  # every other state holds slots and reads topics
_JOB_ID = re.compile(r"JobID ([0-9a-f]{32})")


class JobError(ArgusStreamsError):
    """A job could not be submitted, found, cancelled or savepointed."""


@dataclass(frozen=True)
class JobInfo:
    id: str
    name: str
    state: str
    start_time: int


def default_group(name: str) -> str:
    """The consumer group a job reads with unless `--group-id` says otherwise."""
    return JOBS[name].default_group


def flink_job_name(name: str, group_id: str | None = None, topic_prefix: str = DEFAULT_TOPIC_PREFIX) -> str:
    """The job's name in Flink (see `JobSpec.flink_name`)."""
    return JOBS[name].flink_name(group_id, topic_prefix)


def intended_name(settings: Settings, name: str, job_args: tuple[str, ...] = ()) -> str:
    """The Flink name `submit(settings, name, job_args=job_args)` would give the job (see `flink_job_name`)."""
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--group-id")
    parser.add_argument("--topic-prefix")
    known, _ = parser.parse_known_args(list(job_args))
    return flink_job_name(name, known.group_id or default_group(name), known.topic_prefix or settings.topic_prefix)


def running_as(settings: Settings, flink_name: str) -> str | None:
    """The id of a job of this Flink name that has not ended (running, restarting, starting ...), if any."""
    for job in list_jobs(settings):
        if job.name == flink_name and job.state not in ENDED_STATES:
            return job.id
    return None


def _flink_bin() -> Path:
    import pyflink  # heavy: only job commands need it

    return Path(pyflink.__file__).parent / "bin" / "flink"


def _rest(settings: Settings, method: str, path: str, **kwargs: Any) -> Any:
    response = requests.request(method, f"{settings.flink_rest_url}{path}", timeout=10, **kwargs)
    if response.status_code >= 400:
        raise JobError(f"Flink REST {method} {path}: HTTP {response.status_code}: {response.text[:300]}")
    return response.json() if response.content else {}


def submit(settings: Settings, name: str, *, from_path: str | None = None, stack_env: Path | None = None,
           job_args: tuple[str, ...] = ()) -> str:
    """`flink run --detached -py jobs/<name>.py` against the cluster at FLINK_REST_URL; returns the job id."""
    if name not in JOBS:
        raise JobError(f"unknown job {name!r}; known: {', '.join(JOBS)}")
    rest = urlsplit(settings.flink_rest_url)
    python = sys.executable
    command = [
        str(_flink_bin()), "run", "--detached",
        f"-Drest.address={rest.hostname}", f"-Drest.port={rest.port or 8081}",
        f"-Dpython.executable={python}", f"-Dpython.client.executable={python}",
        "-py", str(JOBS[name].entry_point), "-pyexec", python, "-pyclientexec", python,
    ]
    if from_path:
        command[2:2] = ["--fromSavepoint", from_path]
    env = dict(os.environ)
    if stack_env is not None:
        env[STACK_ENV_VAR] = str(stack_env)
    env["PATH"] = f"{Path(python).parent}{os.pathsep}{env.get('PATH', '')}"
    done = subprocess.run([*command, *job_args], capture_output=True, text=True, env=env, timeout=SUBMIT_TIMEOUT_S)
    match = _JOB_ID.search(done.stdout)
    if done.returncode != 0 or not match:
        summary = _failure_summary(done.stdout + done.stderr)
        raise JobError(f"flink run {name} failed (exit {done.returncode}):\n{summary}")
    return match.group(1)


def _failure_summary(output: str, lines: int = 25) -> str:
    """The Python traceback when there is one (the Java stack around it only says 'exit code 1')."""
    text = output.strip()
    start = text.find("Traceback (most recent call last)")
    shown = text[start:].splitlines()[:lines] if start >= 0 else text.splitlines()[-lines:]
    causes = [line for line in text.splitlines() if line.startswith("Caused by:")]
    return "\n".join(shown + causes)


def list_jobs(settings: Settings) -> list[JobInfo]:
    jobs = _rest(settings, "GET", "/jobs/overview")["jobs"]
    return [JobInfo(j["jid"], j["name"], j["state"], j["start-time"]) for j in jobs]


def wait_running(settings: Settings, job_id: str, timeout_s: float = 120.0) -> None:
    """Until every task of the job runs (sources read, sinks write)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        job = _rest(settings, "GET", f"/jobs/{job_id}")
        if job["state"] in ("FAILED", "CANCELED", "FINISHED"):
            raise JobError(f"job {job_id} is {job['state']}")
        if job["state"] == "RUNNING" and all(v["status"] == "RUNNING" for v in job["vertices"]):
            return
        time.sleep(0.5)
    raise JobError(f"job {job_id} not running after {timeout_s:.0f}s")


def vertex_metrics(settings: Settings, job_id: str) -> list[dict[str, Any]]:
    """Per operator chain, in topological order: records read/written so far (REST job details)."""
    return [vertex["metrics"] for vertex in _rest(settings, "GET", f"/jobs/{job_id}")["vertices"]]


def cancel(settings: Settings, job_id: str, timeout_s: float = 60.0) -> None:
    _rest(settings, "PATCH", f"/jobs/{job_id}?mode=cancel")
    deadline = time.monotonic() + timeout_s
    while _rest(settings, "GET", f"/jobs/{job_id}")["state"] != "CANCELED":
        if time.monotonic() > deadline:
            raise JobError(f"job {job_id} did not cancel within {timeout_s:.0f}s")
        time.sleep(0.3)


def restored_checkpoint(settings: Settings, job_id: str) -> dict[str, Any] | None:
    """The checkpoint the job last restored after a failure or from `--fromSavepoint` (id, path, restore_timestamp)."""
    return _rest(settings, "GET", f"/jobs/{job_id}/checkpoints").get("latest", {}).get("restored")


def savepoint(settings: Settings, job_id: str, target_dir: str | None = None, timeout_s: float = 120.0) -> str:
    """Trigger a savepoint and wait for its path."""
    body: dict[str, Any] = {"cancel-job": False}
    if target_dir:
        body["target-directory"] = target_dir
    trigger = _rest(settings, "POST", f"/jobs/{job_id}/savepoints", json=body)["request-id"]
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        status = _rest(settings, "GET", f"/jobs/{job_id}/savepoints/{trigger}")
        if status["status"]["id"] == "COMPLETED":
            operation = status["operation"]
            if "failure-cause" in operation:
                raise JobError(f"savepoint failed: {operation['failure-cause'].get('stack-trace', '')[:500]}")
            return operation["location"]
        time.sleep(0.5)
    raise JobError(f"savepoint of {job_id} not done within {timeout_s:.0f}s")


def latest_checkpoint(settings: Settings, job_id: str) -> str | None:
    """Path of the job's last completed (retained) checkpoint, to restart from it."""
    completed = _rest(settings, "GET", f"/jobs/{job_id}/checkpoints").get("latest", {}).get("completed")
    return completed["external_path"] if completed else None


def wait_checkpoints(settings: Settings, job_id: str, count: int = 1, timeout_s: float = 120.0) -> str:
    """Until `count` more checkpoints completed; returns the latest one's path."""
    start = _rest(settings, "GET", f"/jobs/{job_id}/checkpoints")["counts"]["completed"]
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        stats = _rest(settings, "GET", f"/jobs/{job_id}/checkpoints")
        if stats["counts"]["completed"] >= start + count:
            return stats["latest"]["completed"]["external_path"]
        time.sleep(0.5)
    raise JobError(f"job {job_id}: no new checkpoint within {timeout_s:.0f}s")
