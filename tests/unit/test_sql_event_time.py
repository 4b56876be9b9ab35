"""The tables' event_time: the envelope timestamp in UTC, whatever form a producer wrote (local Flink, no servers)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pyflink.table import EnvironmentSettings, TableEnvironment

from argus_streams.contract.events import ArgusEvent
from argus_streams.flink import sql_ddl

KAFKA_TIME = datetime(2026, 11, 1, 23, 59, 59)


@pytest.fixture(scope="module")
def env() -> TableEnvironment:
    table_env = TableEnvironment.create(EnvironmentSettings.in_batch_mode())
    for key, value in sql_ddl.SESSION_CONFIG.items():
        table_env.get_config().set(key, value)
    return table_env


def event_times(env: TableEnvironment, stamps: list[str]) -> list[datetime]:
    kafka_time = f"CAST(TIMESTAMP '{KAFKA_TIME:%Y-%m-%d %H:%M:%S}' AS TIMESTAMP_LTZ(3))"
    rows = ", ".join(f"({sql_ddl.literal(s)}, {kafka_time})" for s in stamps)
    source = f"(VALUES {rows}) AS t(`timestamp`, `kafka_timestamp`)"
    query = f"SELECT `timestamp`, {sql_ddl.event_time_expression()} FROM {source}"  # noqa: S608
    with env.execute_sql(query).collect() as result:
        times = {row[0]: row[1] for row in result}
    return [times[s] for s in stamps]


def test_every_iso_form_is_read_as_utc(env: TableEnvironment) -> None:
    ours = ArgusEvent.new("test.failed", source="s", tenant_id="t", payload={},
                          timestamp=datetime(2026, 11, 1, 9, 0, 0, 123456, tzinfo=UTC)).to_dict()["timestamp"]
    stamps = [ours, "2026-11-01T09:00:00+00:00", "2026-11-01T09:00:00.123Z", "2026-11-01T09:00:00",
              "2026-11-01T04:00:00.250-05:00", "2026-11-01T10:30:00+01:30"]
    assert event_times(env, stamps) == [
        datetime(2026, 11, 1, 9, 0, 0, 123000), datetime(2026, 11, 1, 9, 0), datetime(2026, 11, 1, 9, 0, 0, 123000),
        datetime(2026, 11, 1, 9, 0), datetime(2026, 11, 1, 9, 0, 0, 250000), datetime(2026, 11, 1, 9, 0)]


def test_an_unreadable_timestamp_falls_back_to_the_record_time(env: TableEnvironment) -> None:
    assert event_times(env, ["yesterday", ""]) == [KAFKA_TIME, KAFKA_TIME]
