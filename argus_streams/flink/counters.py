"""Our jobs' own counters, reported by Flink's metric system (and so by its Prometheus reporter).

Every metric lives in the operator's group `argus`; labels are Flink key-value groups, which the
Prometheus reporter turns into labels. A count named `events` with label `event_type` of an operator
is scraped as

    flink_taskmanager_job_task_operator_argus_event_type_events{event_type="test_failed", job_name=...}

(the reporter puts each label's key into the name too, and turns dots into underscores). Series are
created on first use, so a label value seen for the first time (a new error type) is a new series.
"""

from __future__ import annotations

from typing import Any

GROUP = "argus"

Labels = tuple[tuple[str, str], ...]


class JobMetrics:
    """Counters and gauges of one operator instance, keyed by name and labels, created lazily.

    Counters are Flink gauges over a Python total: PyFlink 2.2.1 reports gauges from every operator, but
    drops counter increments made in async I/O functions (measured: a counter in the graph-write
    function never left 0 while a gauge beside it did). Flink's Prometheus reporter exports counters as
    gauges anyway, so the scraped series are the same; like a counter, a total restarts at 0 with the task.
    """

    def __init__(self, metric_group: Any):
        self._group = metric_group.add_group(GROUP)
        self._values: dict[tuple[str, Labels], int] = {}
        # Thread mode (PyFlink's embedded metric groups): a Python gauge is called by Flink's metric reporter
        # thread through pemja, which crashed the TaskManager (SIGSEGV in take_gil, measured: once the job was
        # cancelled). There each total is a Flink counter, held in the JVM and moved from the operator's thread.
        self._embedded = ".embedded." in type(metric_group).__module__
        self._counters: dict[tuple[str, Labels], Any] = {}

    def _register(self, name: str, labels: Labels) -> None:
        key = (name, labels)
        group = self._group
        for label, value in labels:
            group = group.add_group(label, value)
        if self._embedded:
            self._counters[key] = group.counter(name)
        else:
            group.gauge(name, lambda: self._values[key])

    def _set(self, key: tuple[str, Labels], value: int) -> None:
        counter = self._counters.get(key)
        if counter is not None and value != self._values[key]:
            counter.inc(value - self._values[key])
        self._values[key] = value

    def count(self, name: str, n: int = 1, **labels: str) -> None:
        """Add `n` to the total `name` with these labels (label order does not matter)."""
        key = (name, tuple(sorted(labels.items())))
        if key not in self._values:
            self._values[key] = 0
            self._register(*key)
        self._set(key, self._values[key] + n)

    def gauge(self, name: str, value: int, **labels: str) -> None:
        """Set the gauge `name` (the last observed value, e.g. the last batch's latency in ms)."""
        key = (name, tuple(sorted(labels.items())))
        if key not in self._values:
            self._values[key] = 0
            self._register(*key)
        self._set(key, int(value))

    def value(self, name: str, **labels: str) -> int:
        return self._values.get((name, tuple(sorted(labels.items()))), 0)
