"""Our job metrics: totals per name and labels on Flink metric groups, and the scrape that reads them back."""

from __future__ import annotations

from typing import Any

from argus_dev import flink_metrics

from argus_streams.flink.counters import JobMetrics


class FakeGroup:
    """The part of PyFlink's MetricGroup that JobMetrics uses, recording registered gauges by scope."""

    def __init__(self, scope: tuple[str, ...] = (), gauges: dict | None = None):
        self.scope, self.gauges = scope, gauges if gauges is not None else {}

    def add_group(self, name: str, extra: str | None = None) -> FakeGroup:
        return FakeGroup((*self.scope, name, *([extra] if extra else [])), self.gauges)

    def gauge(self, name: str, fn: Any) -> None:
        key = (*self.scope, name)
        assert key not in self.gauges, f"registered twice: {key}"
        self.gauges[key] = fn


def test_counts_are_totals_per_name_and_labels_registered_once() -> None:
    group = FakeGroup()
    metrics = JobMetrics(group)
    metrics.count("events", event_type="test.failed")
    metrics.count("events", 2, event_type="test.failed")
    metrics.count("events", event_type="test.executed")
    metrics.count("lookups", result="hit", cache="fix")
    metrics.count("lookups", cache="fix", result="hit")  # label order does not matter
    assert group.gauges[("argus", "event_type", "test.failed", "events")]() == 3
    assert group.gauges[("argus", "event_type", "test.executed", "events")]() == 1
    assert group.gauges[("argus", "cache", "fix", "result", "hit", "lookups")]() == 2
    assert metrics.value("events", event_type="test.failed") == 3


def test_gauge_keeps_the_last_value() -> None:
    group = FakeGroup()
    metrics = JobMetrics(group)
    metrics.gauge("graph_write_last_ms", 120)
    metrics.gauge("graph_write_last_ms", 7)
    assert group.gauges[("argus", "graph_write_last_ms")]() == 7


SCRAPE = """\
# HELP flink_taskmanager_job_task_operator_argus_event_type_events events (scope: ...)
# TYPE flink_taskmanager_job_task_operator_argus_event_type_events gauge
flink_taskmanager_job_task_operator_argus_event_type_events{event_type="test_failed",job_id="j1",operator_name="Parse",job_name="argus_failures",subtask_index="0",} 2.0
flink_taskmanager_job_task_operator_argus_event_type_events{event_type="test_failed",job_id="j1",operator_name="Parse",job_name="argus_failures",subtask_index="1",} 3.0
flink_taskmanager_job_task_operator_argus_event_type_events{event_type="test_failed",job_id="j2",operator_name="Route",job_name="argus_healing",subtask_index="0",} 7.0
# TYPE flink_taskmanager_job_task_operator_numRecordsIn gauge
flink_taskmanager_job_task_operator_numRecordsIn{job_id="j1",operator_name="Parse",job_name="argus_failures",subtask_index="0",} 99.0
"""  # noqa: E501 - the reporter's real line format


def test_scrape_sums_subtasks_per_job_and_strips_label_keys_from_names(monkeypatch) -> None:  # noqa: ANN001
    from argus_dev.stack.base import StackLayout

    monkeypatch.setattr(flink_metrics, "_scrape", lambda url, timeout_s: SCRAPE if ":9249/" in url else None)
    every = flink_metrics.job_metrics(StackLayout())
    assert [(m.job, m.name, m.labels, m.value) for m in every] == [
        ("argus-failures", "events", (("event_type", "test_failed"),), 5.0),
        ("argus-healing", "events", (("event_type", "test_failed"),), 7.0),
    ]
    only = flink_metrics.job_metrics(StackLayout(), job_id="j2")
    assert flink_metrics.total(only, "events", event_type="test_failed") == 7.0
    assert flink_metrics.total(every, "events") == 12.0
    assert "argus-failures" in flink_metrics.format_table(every)


def test_series_names_follow_the_reporter_and_alert_rules_use_them() -> None:
    from argus_dev.stack.base import REPO_ROOT

    assert flink_metrics.series_name("events", "event_type") == \
        "flink_taskmanager_job_task_operator_argus_event_type_events"  # as in SCRAPE, the reporter's format
    rules = (REPO_ROOT / "deploy" / "prometheus" / "alerts.yml").read_text()
    assert flink_metrics.series_name("healing_outcomes", "source", "outcome") in rules


class FakeCounter:
    def __init__(self) -> None:
        self.count = 0

    def inc(self, n: int = 1) -> None:
        self.count += n


class EmbeddedGroup(FakeGroup):
    """Thread mode's metric group (its class lives in pyflink's `...metrics.embedded` module): counters only."""

    def __init__(self, scope: tuple[str, ...] = (), gauges: dict | None = None, counters: dict | None = None):
        super().__init__(scope, gauges)
        self.counters = counters if counters is not None else {}

    def add_group(self, name: str, extra: str | None = None) -> EmbeddedGroup:
        return EmbeddedGroup((*self.scope, name, *([extra] if extra else [])), self.gauges, self.counters)

    def counter(self, name: str) -> FakeCounter:
        return self.counters.setdefault((*self.scope, name), FakeCounter())


EmbeddedGroup.__module__ = "pyflink.fn_execution.metrics.embedded.metric_impl"


def test_in_thread_mode_totals_and_gauges_are_flink_counters_never_python_callbacks() -> None:
    """A Python gauge there is called by the metric reporter's thread through pemja: it crashed the TaskManager."""
    group = EmbeddedGroup()
    metrics = JobMetrics(group)
    metrics.count("events", event_type="test.failed")
    metrics.count("events", 2, event_type="test.failed")
    metrics.gauge("graph_write_last_ms", 120)
    metrics.gauge("graph_write_last_ms", 7)
    assert group.gauges == {}
    assert group.counters[("argus", "event_type", "test.failed", "events")].count == 3
    assert group.counters[("argus", "graph_write_last_ms")].count == 7
    assert metrics.value("events", event_type="test.failed") == 3
