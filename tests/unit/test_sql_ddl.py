"""The topics' Flink SQL DDL: derived from the catalog and the event schema, and sql/ddl.sql up to date."""

from __future__ import annotations

import re
from typing import Any

import pytest
from argus_dev.stack.base import REPO_ROOT

from argus_streams.contract.events import EventType
from argus_streams.contract.payloads import json_schemas
from argus_streams.contract.topics import catalog
from argus_streams.flink import sql_ddl

DDL_FILE = REPO_ROOT / "sql" / "ddl.sql"


def flink_type_of(schema: dict[str, Any], defs: dict[str, Any]) -> str:
    """What the JSON Schema export says a field is, in Flink SQL terms (an independent derivation)."""
    if "$ref" in schema:
        return flink_type_of(defs[schema["$ref"].split("/")[-1]], defs)
    if "anyOf" in schema:
        (only,) = [s for s in schema["anyOf"] if s.get("type") != "null"]
        return flink_type_of(only, defs)
    kind = schema.get("type")
    if kind == "object" and "properties" in schema:
        fields = ", ".join(f"`{name}` {flink_type_of(sub, defs)}" for name, sub in schema["properties"].items())
        return f"ROW<{fields}>"
    return {"object": "MAP<STRING, STRING>", "string": "STRING", "integer": "BIGINT", "number": "DOUBLE",
            "boolean": "BOOLEAN", None: "STRING"}[kind]


def columns_in(ddl: str, table: str) -> dict[str, str]:
    body = re.search(rf"CREATE TABLE `{table}` \((.*?)\n\) WITH", ddl, re.DOTALL)
    assert body, f"no table {table}"
    columns = {}
    for line in body.group(1).strip().splitlines():
        match = re.match(r"\s*`(\w+)` (.*?),?$", line)
        if match:
            columns[match.group(1)] = match.group(2)
    return columns


def options_in(ddl: str, table: str) -> dict[str, str]:
    block = re.search(rf"CREATE TABLE `{table}` .*?\) WITH \((.*?)\n\)", ddl, re.DOTALL)
    assert block
    return dict(re.findall(r"'([^']+)' = '((?:[^']|'')*)'", block.group(1)))


def test_checked_in_ddl_is_the_generated_one() -> None:
    assert DDL_FILE.read_text() == sql_ddl.template(), "sql/ddl.sql is stale: run `make sql-ddl`"


def test_one_table_per_catalog_topic_with_its_topic() -> None:
    ddl = sql_ddl.template()
    tables = re.findall(r"CREATE TABLE `(\w+)`", ddl)
    assert tables == [spec.event_type.value.replace(".", "_") for spec in catalog()]
    for spec in catalog("${ARGUS_TOPIC_PREFIX}"):
        options = options_in(ddl, sql_ddl.table_name(spec.event_type))
        assert options["topic"] == spec.name
        assert options["connector"] == "kafka" and options["format"] == "json"
        assert options["scan.startup.mode"] == "earliest-offset" and "scan.bounded.mode" not in options


@pytest.mark.parametrize("event_type", list(EventType))
def test_columns_match_the_exported_json_schema(event_type: EventType) -> None:
    schemas = json_schemas()
    envelope = schemas["argus-event"]
    payload = schemas[f"payload.{event_type.value}"]
    columns = columns_in(sql_ddl.template(), sql_ddl.table_name(event_type))
    expected = {name: flink_type_of(sub, envelope.get("$defs", {})) for name, sub in envelope["properties"].items()}
    expected["payload"] = flink_type_of(payload, payload.get("$defs", {}))
    physical = {name: kind for name, kind in columns.items() if "METADATA" not in kind and " AS " not in kind}
    assert physical == expected


def test_kafka_metadata_and_watermarked_event_time() -> None:
    columns = columns_in(sql_ddl.template(), "test_failed")
    assert columns["kafka_topic"] == "STRING METADATA FROM 'topic' VIRTUAL"
    assert columns["kafka_partition"] == "INT METADATA FROM 'partition' VIRTUAL"
    assert columns["kafka_offset"] == "BIGINT METADATA FROM 'offset' VIRTUAL"
    assert columns["kafka_timestamp"] == "TIMESTAMP_LTZ(3) METADATA FROM 'timestamp' VIRTUAL"
    assert columns["kafka_headers"] == "MAP<STRING, BYTES> METADATA FROM 'headers' VIRTUAL"
    assert columns["event_time"].startswith("AS COALESCE(")
    assert "WATERMARK FOR `event_time` AS `event_time` - INTERVAL '5' SECOND" in sql_ddl.template()


def test_template_holds_placeholders_never_settings() -> None:
    from argus_streams.settings import Settings

    secret = Settings(REDPANDA_SASL_PASSWORD="hunter2-secret")
    assert "hunter2" not in sql_ddl.template()
    options = options_in(sql_ddl.template(), "dlq")
    assert options["properties.bootstrap.servers"] == "${REDPANDA_BROKERS}"
    assert 'password="${REDPANDA_SASL_PASSWORD}"' in options["properties.sasl.jaas.config"]
    rendered = sql_ddl.render(sql_ddl.Connection.from_settings(secret))
    assert "hunter2-secret" in rendered and "${" not in rendered.split("SET ", 1)[1]


def test_settings_fill_the_connection_and_quotes_are_escaped() -> None:
    connection = sql_ddl.Connection("b1:9092,b2:9092", "SASL_SSL", "SCRAM-SHA-256", "svc", "pa'ss\"word", "staging")
    ddl = sql_ddl.render(connection, bounded=True)
    options = options_in(ddl, "healing_completed")
    assert options["topic"] == "staging.healing.completed"
    assert options["properties.bootstrap.servers"] == "b1:9092,b2:9092"
    assert options["properties.sasl.mechanism"] == "SCRAM-SHA-256"
    assert options["properties.sasl.jaas.config"] == (
        f'{sql_ddl.SCRAM_LOGIN_MODULE} required username="svc" password="pa\'\'ss\\"word";')
    assert options["scan.bounded.mode"] == "latest-offset"
    # Batch mode is set before the view is created: a view keeps the time attributes of its mode.
    assert ddl.index("SET 'execution.runtime-mode' = 'batch';") < ddl.index("CREATE ")


def test_plaintext_brokers_get_no_sasl_options() -> None:
    connection = sql_ddl.Connection("b:9092", "PLAINTEXT", "", "", "", "argus")
    options = options_in(sql_ddl.render(connection), "test_executed")
    assert not any(key.startswith("properties.sasl") for key in options)


def test_all_events_view_unions_every_table_and_the_udf_is_defined() -> None:
    ddl = sql_ddl.template()
    view = ddl.split("CREATE VIEW `argus_events` AS", 1)[1]
    assert re.findall(r"FROM `(\w+)`", view) == [sql_ddl.table_name(t) for t in EventType]
    assert "CREATE TEMPORARY SYSTEM FUNCTION failure_signature AS 'udfs.signature.failure_signature' " \
           "LANGUAGE PYTHON;" in ddl


def test_an_unmappable_field_type_is_an_error() -> None:
    with pytest.raises(sql_ddl.SchemaTypeError):
        sql_ddl.sql_type(complex)
    assert sql_ddl.sql_type(int | None) == "BIGINT"
    assert sql_ddl.sql_type(dict[str, Any]) == "MAP<STRING, STRING>"
