"""Read the jobs' own metrics back from the Flink cluster's Prometheus endpoints.

    argus-streams metrics [--job 'argus-failures (group g, prefix p)'] [--json]

The JobManager and the TaskManager each serve http://127.0.0.1:<port>/metrics from the range the stack
renders (flink-conf/config.yaml). Our metrics are those in the `argus` group (argus_streams.flink.counters);
this module sums them over subtasks, per job, metric and label, which is what a person asks for
("how many test.failed did the failure job read") and what the tests assert.
"""

from __future__ import annotations

import json
import re
import urllib.request
from collections import defaultdict
from dataclasses import dataclass

from prometheus_client.parser import text_string_to_metric_families

from argus_dev.stack.base import StackLayout

OPERATOR_PREFIX = "flink_taskmanager_job_task_operator_argus_"
LAST_VALUE_SUFFIX = "_last_ms"  # gauges of the latest observation: the maximum over subtasks, not the sum
ENDPOINTS_PER_CLUSTER = 3  # JobManager, TaskManager, a replacement TaskManager (flink-conf: 9249-9251)
_NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))
# Labels Flink adds to every operator metric; what remains are ours (event_type, error_type, ...).
FLINK_LABELS = frozenset({"job_id", "task_id", "task_attempt_id", "host", "operator_id", "operator_name",
                          "task_name", "task_attempt_num", "job_name", "tm_id", "subtask_index"})


@dataclass(frozen=True)
class JobMetric:
    job: str
    operator: str
    name: str
    labels: tuple[tuple[str, str], ...]
    value: float

    def label_text(self) -> str:
        return ",".join(f"{key}={value}" for key, value in self.labels)


def series_name(name: str, *label_keys: str) -> str:
    """The Prometheus name of one of our metrics (what alert rules must use): label keys sorted, in the name."""
    return OPERATOR_PREFIX + "".join(f"{key}_" for key in sorted(label_keys)) + name


def endpoints(layout: StackLayout) -> list[str]:
    first = layout.ports.flink_metrics
    return [f"http://{layout.host}:{port}/metrics" for port in range(first, first + ENDPOINTS_PER_CLUSTER)]


def _scrape(url: str, timeout_s: float) -> str | None:
    try:
        with _NO_PROXY.open(url, timeout=timeout_s) as response:
            return response.read().decode()
    except OSError:
        return None  # a port of the range nobody took


def _metric_name(family: str, labels: dict[str, str]) -> str:
    """`argus_event_type_events` -> `events`: the reporter puts each label key into the name."""
    name = family[len(OPERATOR_PREFIX):]
    for key in sorted((k for k in labels if k not in FLINK_LABELS), key=len, reverse=True):
        name = name.replace(f"{key}_", "", 1)
    return name


def job_names(layout: StackLayout, timeout_s: float) -> dict[str, str]:
    """Job id -> the job's name, from the cluster's REST API. The reporter's `job_name` label has every
    character outside [a-zA-Z0-9:_] replaced by `_`, so `argus-failures (group g, prefix p)` cannot be read
    back from it."""
    try:
        with _NO_PROXY.open(f"http://{layout.host}:{layout.ports.flink_rest}/jobs/overview",
                            timeout=timeout_s) as response:
            return {job["jid"]: job["name"] for job in json.load(response)["jobs"]}
    except (OSError, ValueError, KeyError, TypeError):
        return {}


def job_metrics(layout: StackLayout, job: str | None = None, job_id: str | None = None,
                timeout_s: float = 5.0) -> list[JobMetric]:
    """Our metrics of every running job (or of the job named `job`, or of `job_id`), summed over subtasks
    (the `*_last_ms` gauges: their maximum)."""
    totals: dict[tuple[str, str, str, tuple[tuple[str, str], ...]], float] = defaultdict(float)
    names = job_names(layout, timeout_s)
    for url in endpoints(layout):
        text = _scrape(url, timeout_s)
        if text is None:
            continue
        for family in text_string_to_metric_families(text):
            if not family.name.startswith(OPERATOR_PREFIX):
                continue
            for sample in family.samples:
                job_name = names.get(sample.labels.get("job_id", "")) or \
                    sample.labels.get("job_name", "").replace("_", "-")
                if job not in (None, job_name) or job_id not in (None, sample.labels.get("job_id")):
                    continue
                ours = tuple(sorted((k, v) for k, v in sample.labels.items() if k not in FLINK_LABELS))
                key = (job_name, sample.labels.get("operator_name", ""), _metric_name(family.name, sample.labels), ours)
                if key[2].endswith(LAST_VALUE_SUFFIX):  # a gauge of the latest value: the slowest subtask's
                    totals[key] = max(totals.get(key, sample.value), sample.value)
                else:
                    totals[key] += sample.value
    return [JobMetric(*key, value) for key, value in sorted(totals.items())]


def total(metrics: list[JobMetric], name: str, **labels: str) -> float:
    """The sum of `name` over operators whose labels include `labels` (values as scraped: dots are `_`)."""
    wanted = set(labels.items())
    return sum(m.value for m in metrics if m.name == name and wanted <= set(m.labels))


def format_table(metrics: list[JobMetric]) -> str:
    rows = [("JOB", "OPERATOR", "METRIC", "LABELS", "VALUE")]
    rows += [(m.job, re.sub(r"_+", " ", m.operator).strip(), m.name, m.label_text() or "-", f"{m.value:g}")
             for m in metrics]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    return "\n".join("  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row[:-1])) + "  " + row[-1]
                     for row in rows)


def to_json(metrics: list[JobMetric]) -> str:
    return json.dumps([{"job": m.job, "operator": m.operator, "metric": m.name, "labels": dict(m.labels),
                        "value": m.value} for m in metrics], indent=2)
