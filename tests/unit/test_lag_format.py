"""The lag table, its JSON and the lag arithmetic (no servers)."""

from __future__ import annotations

import json

from prometheus_client import CollectorRegistry, generate_latest

from argus_streams.bus import lag
from argus_streams.bus.lag import LagRow, compute_lag, format_table, to_json
from argus_streams.cli import build_parser
from argus_streams.settings import Settings

ROWS = [
    LagRow("argus-flink-failures", "argus.test.failed", 0, 150, 6150, 6000),
    LagRow("argus-flink-failures", "argus.test.failed", 1, None, 0, None),
    LagRow("g", "argus.dlq", 12, 7, 7, 0),
]


def test_lag_is_log_end_minus_committed_and_never_negative() -> None:
    assert compute_lag(3, 10) == 7
    assert compute_lag(10, 10) == 0
    assert compute_lag(12, 10) == 0  # a commit past a truncated log
    assert compute_lag(None, 10) is None
    assert compute_lag(0, 0) == 0


def test_table_is_aligned_with_dashes_for_none() -> None:
    lines = format_table(ROWS).splitlines()
    assert lines == [
        "GROUP                 TOPIC              PARTITION  CURRENT-OFFSET  LOG-END-OFFSET  LAG",
        "argus-flink-failures  argus.test.failed  0          150             6150            6000",
        "argus-flink-failures  argus.test.failed  1          -               0               -",
        "g                     argus.dlq          12         7               7               0",
    ]
    # Every column starts at the same position on every line.
    starts = [lines[0].index(name) for name in ("TOPIC", "PARTITION", "CURRENT-OFFSET", "LOG-END-OFFSET", "LAG")]
    for line in lines[1:]:
        assert all(line[start - 2:start] == "  " and line[start] != " " for start in starts)


def test_table_without_rows_is_the_header() -> None:
    assert format_table([]) == "GROUP  TOPIC  PARTITION  CURRENT-OFFSET  LOG-END-OFFSET  LAG"


def test_json_has_the_row_fields_and_null_for_none() -> None:
    decoded = json.loads(to_json(ROWS))
    assert decoded[1] == {"group": "argus-flink-failures", "topic": "argus.test.failed", "partition": 1,
                          "current_offset": None, "log_end_offset": 0, "lag": None}
    assert [row["lag"] for row in decoded] == [6000, None, 0]
    assert [LagRow(**row) for row in decoded] == ROWS
    assert json.loads(to_json([])) == []


def test_cli_lag_arguments() -> None:
    args = build_parser().parse_args(["lag", "a", "b", "--json"])
    assert (args.groups, args.json, args.serve) == (["a", "b"], True, None)
    args = build_parser().parse_args(["lag", "--serve", "9308", "--interval", "5"])
    assert (args.groups, args.serve, args.interval) == ([], 9308, 5.0)


def test_exporter_without_a_broker_says_down_quickly(monkeypatch) -> None:  # noqa: ANN001
    monkeypatch.setattr(lag, "SCRAPE_TIMEOUT_MS", 500)
    registry = CollectorRegistry()
    registry.register(lag.LagCollector(Settings(REDPANDA_BROKERS="127.0.0.1:1"), interval_s=0))  # type: ignore[call-arg]
    text = generate_latest(registry).decode()
    assert "argus_lag_exporter_up 0.0" in text
    assert "kafka_consumer_group_lag{" not in text


def test_caught_up_needs_rows_and_every_partition_at_its_end() -> None:
    def row(current: int | None, end: int) -> LagRow:
        return LagRow("g", "t", 0, current, end, compute_lag(current, end))

    assert lag.caught_up([row(5, 5), row(None, 0)])  # an empty partition never gets a commit
    assert not lag.caught_up([])
    assert not lag.caught_up([row(4, 5)])
    assert not lag.caught_up([row(None, 3)])  # records, but nothing committed yet
