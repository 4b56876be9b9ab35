"""The analytics files and the runner's plumbing (statement splitting, PostgreSQL tables, output)."""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path

import pytest

from argus_streams.flink import sql_runner


def test_statements_split_on_semicolons_outside_quotes_and_comments() -> None:
    text = ("-- a header; with a semicolon\nCREATE TEMPORARY VIEW v AS SELECT ';' AS `a;b` FROM t;\n"
            "/* block; comment */ SELECT 'it''s; fine' FROM v;\n-- trailing comment only\n")
    parts = sql_runner.split_statements(text)
    assert len(parts) == 2
    assert parts[0].endswith("SELECT ';' AS `a;b` FROM t")
    assert parts[1] == "/* block; comment */ SELECT 'it''s; fine' FROM v"


@pytest.mark.parametrize("path", sql_runner.analytics_files(), ids=lambda p: p.stem)
def test_every_analytics_file_says_what_it_answers_and_its_key(path: Path) -> None:
    query = sql_runner.parse_query(path)
    assert len(query.question) > 40
    assert query.key
    for column in query.key:  # the key names result columns of the final SELECT
        assert re.search(rf"\b{column}\b", query.select), column
    for statement in query.setup:
        assert re.match(r"(--[^\n]*\n)*\s*CREATE TEMPORARY VIEW", statement), statement


def test_the_six_questions_of_issue_7_have_a_file() -> None:
    assert {p.stem for p in sql_runner.analytics_files()} == {
        "failure_rate_per_suite", "top_failure_signatures", "flaky_tests", "healing_outcomes", "dlq_inflow",
        "ingestion_volume"}


def test_a_file_without_a_final_query_or_key_is_refused(tmp_path: Path) -> None:
    no_query = tmp_path / "a.sql"
    no_query.write_text("-- q\n-- key: a\nCREATE TEMPORARY VIEW v AS SELECT 1 AS a")
    with pytest.raises(sql_runner.SqlError, match="last statement"):
        sql_runner.parse_query(no_query)
    no_key = tmp_path / "b.sql"
    no_key.write_text("-- q\nSELECT 1 AS a")
    with pytest.raises(sql_runner.SqlError, match="key"):
        sql_runner.parse_query(no_key)


def test_postgres_table_from_the_result_schema() -> None:
    columns = [("window_start", "TIMESTAMP(3) NOT NULL", "TIMESTAMP_WITHOUT_TIME_ZONE"),
               ("tenant_id", "VARCHAR(2147483647)", "VARCHAR"), ("events", "BIGINT NOT NULL", "BIGINT"),
               ("rate", "DOUBLE", "DOUBLE"), ("amount", "DECIMAL(10, 2)", "DECIMAL")]
    statement = sql_runner.pg_create_table("analytics.volume", columns, ("window_start", "tenant_id"))
    assert statement == ('CREATE TABLE IF NOT EXISTS analytics.volume ("window_start" TIMESTAMP(3), '
                         '"tenant_id" TEXT, "events" BIGINT, "rate" DOUBLE PRECISION, "amount" NUMERIC(10, 2), '
                         'PRIMARY KEY ("window_start", "tenant_id"))')
    with pytest.raises(sql_runner.SqlError, match="not in the query"):
        sql_runner.pg_create_table("t", columns, ("nope",))


def test_jdbc_sink_is_an_upsert_table_on_the_key() -> None:
    url, user, password = sql_runner.jdbc_url("postgresql://argus:p%40ss@127.0.0.1:15432/argus")
    assert (url, user, password) == ("jdbc:postgresql://127.0.0.1:15432/argus", "argus", "p@ss")
    ddl = sql_runner.jdbc_sink_ddl("pg_sink", "analytics.t", [("a", "STRING", "VARCHAR")], ("a",),
                                   "postgresql://argus:pw@127.0.0.1:5432/argus")
    assert "PRIMARY KEY (`a`) NOT ENFORCED" in ddl
    assert "'connector' = 'jdbc'" in ddl and "'table-name' = 'analytics.t'" in ddl


def test_table_output_is_aligned_and_sorted() -> None:
    text = sql_runner.format_table(["when", "tenant", "rate"], [
        (datetime(2026, 11, 1, 9, 1), "b", 1.0), (datetime(2026, 11, 1, 9, 0), "a", 1 / 3), (None, "c", None)])
    assert text.splitlines() == [
        "when                 tenant  rate",
        "2026-11-01 09:00:00  a       0.3333",
        "2026-11-01 09:01:00  b       1.0",
        "NULL                 c       NULL",
    ]
