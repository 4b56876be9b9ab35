"""When a test on the test stack fails, what the stack knew at that moment, printed at once.

CI shows the end of its output, and a run that overstays its time is cut off before pytest's summary. So a
failed integration test prints, as it fails: how long it took, the Flink jobs started while it ran with their
state and the first lines of their latest exception, and the ERROR lines at the end of the TaskManager's log
and of the Python workers' boot logs. The same text joins the test's report (pytest's FAILURES section).
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

EXCEPTION_LINES = 30
LOG_LINES = 25


def _flink_jobs(rest_url: str, since_ms: float) -> list[str]:
    lines = []
    try:
        jobs = requests.get(f"{rest_url}/jobs/overview", timeout=5).json()["jobs"]
    except (requests.RequestException, ValueError, KeyError) as error:
        return [f"Flink REST {rest_url}: {error}"]
    for job in sorted(jobs, key=lambda j: j.get("start-time", 0)):
        if job.get("start-time", 0) < since_ms:
            continue
        lines.append(f"job {job['jid']} {job['state']}: {job['name']}")
        try:
            history = requests.get(f"{rest_url}/jobs/{job['jid']}/exceptions", params={"maxExceptions": 1},
                                   timeout=5).json()
        except (requests.RequestException, ValueError):
            continue
        entries = (history.get("exceptionHistory") or {}).get("entries") or []
        trace = entries[0].get("stacktrace", "") if entries else history.get("root-exception") or ""
        lines += [f"    {line}" for line in trace.splitlines()[:EXCEPTION_LINES]]
    return lines


# Logged on every job cancel by the Kafka connector's shaded client (its class loader is gone): no news.
NOISE = ("Failed to close release connections", "NoClassDefFoundError: org/apache/flink/kafka/shaded")
_STAMP = re.compile(r"^(\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2})")


def _error_tail(path: Path, since: float) -> list[str]:
    """ERROR lines (and the traceback lines under them) logged since `since`."""
    try:
        text = path.read_text(errors="replace").splitlines()
    except OSError:
        return []
    after = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(since))
    errors, keep = [], False
    for line in text:
        stamp = _STAMP.match(line)
        if stamp:
            keep = stamp.group(1) >= after and " ERROR " in line and not any(n in line for n in NOISE)
        elif "Traceback" in line:
            keep = True
        if keep and not any(n in line for n in NOISE):
            errors.append(line)
    return [f"{path.name}:"] + [f"    {line[:300]}" for line in errors[-LOG_LINES:]] if errors else []


def stack_report(stack: Any, since: float) -> str:  # noqa: ANN401 - argus_dev's Stack, imported lazily
    lines = _flink_jobs(f"http://{stack.layout.host}:{stack.layout.ports.flink_rest}", since * 1000 - 5000)
    logs = stack.layout.logs_dir / "flink"
    for log in sorted(logs.glob("*taskexecutor*.log")) + sorted(logs.glob("*standalonesession*.log")):
        lines += _error_tail(log, since)
    boot_logs = sorted((stack.layout.state_dir / "data").rglob("flink-python-udf-boot.log"),
                       key=lambda p: p.stat().st_mtime)
    for log in boot_logs[-2:]:
        lines += _error_tail(log, since)
    return "\n".join(lines) or "(nothing: no job started, no ERROR in the logs)"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Iterator[None]:
    item.stash[_STARTED] = time.time()
    yield


_STARTED = pytest.StashKey[float]()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()
    stack = getattr(item, "funcargs", {}).get("stack")
    if report.when != "call" or not report.failed or stack is None:
        return
    started = item.stash.get(_STARTED, call.start)
    text = f"failed after {call.duration:.0f}s\n{stack_report(stack, started)}"
    report.sections.append(("test stack when it failed", text))
    terminal = item.config.pluginmanager.get_plugin("terminalreporter")
    if terminal is not None:
        terminal.write_line("")
        terminal.write_line(f"--- {item.nodeid} {text}")


BUDGET_VAR = "ARGUS_TEST_BUDGET_S"
_SESSION_STARTED = time.monotonic()


def pytest_runtest_setup(item: pytest.Item) -> None:
    """Past its time budget (ARGUS_TEST_BUDGET_S, 70 minutes; CI allows 90 with set-up) the run stops and
    reports, rather than be cut off by CI with no summary."""
    budget = float(os.environ.get(BUDGET_VAR, "4200"))
    if time.monotonic() - _SESSION_STARTED > budget:
        pytest.exit(f"the suite ran past its {budget:.0f}s budget ({BUDGET_VAR}); stopped before {item.nodeid}",
                    returncode=1)
