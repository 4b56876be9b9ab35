"""Consumer-group lag, like `rpk group describe`: committed offsets against log-end offsets, per partition.

Committed offsets come from the group coordinator (OffsetFetch), log-end offsets (the high watermark, as rpk
shows them) from each partition's leader (ListOffsets), both through one admin client. Groups that only
commit offsets and never join, such as the Flink jobs' KafkaSources (`argus-flink-failures`), are listed by
the broker as `Empty` classic groups and are described like any other.

Every partition of every topic a group has committed offsets for is shown; a partition without a commit
has no current offset and no lag ("-" in the table, `null` in JSON). Topics that no longer exist are left
out (they have no log-end offset).

`serve_lag_metrics` exposes the same figures to Prometheus, computed on scrape (cached for `interval_s`):
`kafka_consumer_group_lag{group,topic,partition}` and `kafka_topic_partition_current_offset{topic,partition}`
(log-end offsets of the catalog's topics and of every topic a group commits for).
"""

from __future__ import annotations

import json
import logging
import signal
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field

from kafka import TopicPartition
from kafka.admin import KafkaAdminClient, OffsetSpec
from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from argus_streams.bus.admin import admin_client
from argus_streams.contract.topics import catalog
from argus_streams.settings import Settings

log = logging.getLogger(__name__)

COLUMNS = ("GROUP", "TOPIC", "PARTITION", "CURRENT-OFFSET", "LOG-END-OFFSET", "LAG")
NONE_SHOWN = "-"
DEFAULT_INTERVAL_S = 15.0
# A scrape with the broker down answers `argus_lag_exporter_up 0` within Prometheus's default 10 s scrape timeout.
SCRAPE_TIMEOUT_MS = 4_000
# Share groups (KIP-932) have no committed offsets: OffsetFetch does not apply to them.
_NO_OFFSETS_GROUP_TYPES = {"share"}


@dataclass(frozen=True)
class LagRow:
    """One partition of one group: its committed offset, the partition's log-end offset and the lag."""

    group: str
    topic: str
    partition: int
    current_offset: int | None
    log_end_offset: int
    lag: int | None


@dataclass(frozen=True)
class LagSnapshot:
    """What one look at the broker found: the groups' rows and the log-end offset of each partition seen."""

    rows: list[LagRow]
    log_end: dict[TopicPartition, int] = field(default_factory=dict)


def compute_lag(current_offset: int | None, log_end_offset: int) -> int | None:
    """Log-end minus committed, never negative (a commit ahead of a truncated log is 0); None without a commit."""
    if current_offset is None:
        return None
    return max(log_end_offset - current_offset, 0)


def caught_up(rows: list[LagRow]) -> bool:
    """Some rows, and each partition committed to its end (an empty partition without a commit counts)."""
    return bool(rows) and all(row.lag == 0 or (row.lag is None and row.log_end_offset == 0) for row in rows)


def describe_groups(settings: Settings, groups: list[str] | None = None) -> list[LagRow]:
    """Lag of every partition of every topic each group committed offsets for (all groups when None)."""
    with admin_client(settings) as admin:
        return snapshot(admin, groups).rows


def list_group_ids(admin: KafkaAdminClient) -> list[str]:
    """Every group the brokers know that can hold committed offsets, sorted (commit-only groups included)."""
    return sorted({g["group_id"] for g in admin.list_groups() if g.get("group_type") not in _NO_OFFSETS_GROUP_TYPES})


def snapshot(admin: KafkaAdminClient, groups: list[str] | None, topics: Iterable[str] = ()) -> LagSnapshot:
    """The groups' rows, plus the log-end offsets of their topics and of `topics` (for the exporter)."""
    names = list(dict.fromkeys(groups)) if groups is not None else list_group_ids(admin)
    committed: dict[str, dict[TopicPartition, int]] = {}
    if names:
        for group, offsets in admin.list_group_offsets({name: None for name in names}).items():
            committed[group] = {tp: meta.offset for tp, meta in offsets.items() if meta.offset >= 0}
    group_topics = {tp.topic for offsets in committed.values() for tp in offsets}
    partitions = topic_partitions(admin, sorted(group_topics | set(topics)))
    log_end = log_end_offsets(admin, [tp for tps in partitions.values() for tp in tps])
    rows = [
        LagRow(group, tp.topic, tp.partition, committed[group].get(tp), log_end[tp],
               compute_lag(committed[group].get(tp), log_end[tp]))
        for group in sorted(committed)
        for topic in sorted({tp.topic for tp in committed[group]})
        for tp in partitions.get(topic, [])
    ]
    return LagSnapshot(rows, log_end)


def topic_partitions(admin: KafkaAdminClient, topics: list[str]) -> dict[str, list[TopicPartition]]:
    """Every partition of each existing topic; topics the broker does not know are left out."""
    if not topics:
        return {}
    found: dict[str, list[TopicPartition]] = {}
    for meta in admin.describe_topics(topics):
        if meta.get("error_code"):  # e.g. 3, UNKNOWN_TOPIC_OR_PARTITION: deleted since the commit
            continue
        indexes = sorted(p["partition_index"] for p in meta["partitions"])
        found[meta["name"]] = [TopicPartition(meta["name"], index) for index in indexes]
    return found


def log_end_offsets(admin: KafkaAdminClient, partitions: list[TopicPartition]) -> dict[TopicPartition, int]:
    """The high watermark of each partition (what rpk calls the log-end offset)."""
    if not partitions:
        return {}
    offsets = admin.list_partition_offsets({tp: OffsetSpec.LATEST for tp in partitions})
    return {tp: result.offset for tp, result in offsets.items()}


# Output ---------------------------------------------------------------------------------------------------


def _cells(row: LagRow) -> tuple[str, ...]:
    shown = [row.current_offset, row.log_end_offset, row.lag]
    return (row.group, row.topic, str(row.partition),
            *(NONE_SHOWN if value is None else str(value) for value in shown))


def format_table(rows: Iterable[LagRow]) -> str:
    """Left-aligned columns two spaces apart, as rpk prints them; "-" where a value is None."""
    lines = [COLUMNS, *(_cells(row) for row in rows)]
    widths = [max(len(line[i]) for line in lines) for i in range(len(COLUMNS))]
    return "\n".join("  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip()
                     for line in lines)


def to_json(rows: Iterable[LagRow]) -> str:
    """A list of objects with the LagRow's fields; null where a value is None."""
    return json.dumps([asdict(row) for row in rows], indent=2)


# Prometheus exporter --------------------------------------------------------------------------------------


class LagCollector(Collector):
    """Computes the lag when scraped; a result younger than `interval_s` is served again without a look."""

    def __init__(self, settings: Settings, groups: list[str] | None = None,
                 interval_s: float = DEFAULT_INTERVAL_S, topics: Iterable[str] | None = None):
        self.settings = settings
        self.groups = groups
        self.interval_s = interval_s
        self.topics = list(topics) if topics is not None else [s.name for s in catalog(settings.topic_prefix)]
        self._lock = threading.Lock()
        self._cached: LagSnapshot | None = None
        self._cached_at = float("-inf")

    def _snapshot(self) -> LagSnapshot | None:
        with self._lock:  # scrapes can arrive concurrently: one look at the broker at a time
            if self._cached is None or time.monotonic() - self._cached_at >= self.interval_s:
                try:
                    admin = KafkaAdminClient(**self.settings.kafka_client_config(), client_id="argus-lag-exporter",
                                             bootstrap_timeout_ms=SCRAPE_TIMEOUT_MS,
                                             request_timeout_ms=SCRAPE_TIMEOUT_MS)
                    try:
                        self._cached = snapshot(admin, self.groups, self.topics)
                    finally:
                        admin.close()
                    self._cached_at = time.monotonic()
                except Exception:  # noqa: BLE001 - reported as argus_lag_exporter_up 0, never as stale values
                    log.exception("consumer lag: could not read offsets from %s", self.settings.brokers)
                    self._cached = None
            return self._cached

    def collect(self) -> Iterator[GaugeMetricFamily]:
        found = self._snapshot()
        up = GaugeMetricFamily("argus_lag_exporter_up", "1 if the last look at the broker succeeded, else 0")
        up.add_metric([], 1 if found is not None else 0)
        yield up
        lag = GaugeMetricFamily("kafka_consumer_group_lag", "Log-end offset minus the group's committed offset",
                                labels=["group", "topic", "partition"])
        current = GaugeMetricFamily("kafka_topic_partition_current_offset", "Log-end offset (high watermark)",
                                    labels=["topic", "partition"])
        if found is not None:
            for row in found.rows:
                if row.lag is not None:
                    lag.add_metric([row.group, row.topic, str(row.partition)], row.lag)
            for tp, offset in sorted(found.log_end.items()):
                current.add_metric([tp.topic, str(tp.partition)], offset)
        yield lag
        yield current


def serve_lag_metrics(settings: Settings, port: int, groups: list[str] | None = None,
                      interval_s: float = DEFAULT_INTERVAL_S, stop: threading.Event | None = None,
                      report: Callable[[str], None] = print) -> None:
    """Serve the lag metrics on http://127.0.0.1:PORT/metrics until `stop` is set, Ctrl-C or SIGTERM."""
    if stop is None:
        stop = threading.Event()
        if threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGTERM, lambda *_: stop.set())  # a service manager's stop: shut down cleanly
    registry = CollectorRegistry()
    registry.register(LagCollector(settings, groups, interval_s))
    server, thread = start_http_server(port, addr="127.0.0.1", registry=registry)
    report(f"consumer lag metrics on http://127.0.0.1:{server.server_port}/metrics "
           f"({', '.join(groups) if groups else 'all groups'}; refreshed at most every {interval_s:g}s)")
    try:
        stop.wait()
    except KeyboardInterrupt:
        pass
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
