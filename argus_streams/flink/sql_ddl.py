"""Flink SQL tables of the 8 topics, generated from the topic catalog and the event schema.

`argus-streams sql ddl` prints them for the current settings; `sql/ddl.sql` is the same DDL with
`${VARIABLE}` placeholders for the connection (regenerate it with `make sql-ddl`; a unit test fails
when it is stale). Columns: the envelope (`ArgusEvent`), `payload` as a ROW of the type's payload
model (`payloads.py`), the Kafka record's metadata, and `event_time`, the envelope timestamp as the
rowtime with a watermark.
"""

from __future__ import annotations

import types
import typing
from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from typing import Any

from pydantic import BaseModel

from argus_streams.contract.events import ArgusEvent, EventType
from argus_streams.contract.payloads import PAYLOADS
from argus_streams.contract.topics import TopicSpec, catalog
from argus_streams.errors import ConfigurationError
from argus_streams.flink.kit import SCRAM_LOGIN_MODULE
from argus_streams.settings import Settings

EVENT_TIME = "event_time"
# Events of one topic arrive nearly in order (producers stamp them on send); 5 s absorbs the rest.
WATERMARK_DELAY_S = 5
# `datetime.isoformat()` (6 fraction digits or none) and the common `...123Z` form; the offset is
# parsed but Flink ignores it, so `event_time_expression` applies it.
TIMESTAMP_FORMAT = "yyyy-MM-dd'T'HH:mm:ss[.SSSSSS][.SSS][XXX]"
# Window bounds and TIMESTAMP_LTZ values print in UTC, whatever the machine's zone.
SESSION_CONFIG = {"table.local-time-zone": "UTC"}
UDF_NAME = "failure_signature"
UDF_PATH = "udfs.signature.failure_signature"
ALL_EVENTS_VIEW = "argus_events"

# Metadata of the Kafka SQL connector: (column, type, key). Read-only, so VIRTUAL.
METADATA_COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("kafka_topic", "STRING", "topic"),
    ("kafka_partition", "INT", "partition"),
    ("kafka_offset", "BIGINT", "offset"),
    ("kafka_timestamp", "TIMESTAMP_LTZ(3)", "timestamp"),
    ("kafka_headers", "MAP<STRING, BYTES>", "headers"),
)

# Placeholders of sql/ddl.sql: the variables Settings reads (envsubst-compatible).
PLACEHOLDERS = {
    "brokers": "${REDPANDA_BROKERS}",
    "security_protocol": "${REDPANDA_SECURITY_PROTOCOL}",
    "sasl_mechanism": "${REDPANDA_SASL_MECHANISM}",
    "username": "${REDPANDA_SASL_USERNAME}",
    "password": "${REDPANDA_SASL_PASSWORD}",
    "topic_prefix": "${ARGUS_TOPIC_PREFIX}",
}

_SCALARS: dict[Any, str] = {str: "STRING", int: "BIGINT", float: "DOUBLE", bool: "BOOLEAN"}


class SchemaTypeError(ConfigurationError, TypeError):
    """A field of the event schema has a type the DDL generator cannot map (extend `sql_type`)."""


@dataclass(frozen=True)
class Connection:
    """Where the tables read from: the broker, its SASL login, and the topic namespace."""

    brokers: str
    security_protocol: str
    sasl_mechanism: str
    username: str
    password: str
    topic_prefix: str

    @classmethod
    def from_settings(cls, settings: Settings) -> Connection:
        return cls(settings.brokers, settings.security_protocol, settings.sasl_mechanism, settings.sasl_username,
                   settings.sasl_password.get_secret_value(), settings.topic_prefix)

    @classmethod
    def placeholders(cls) -> Connection:
        return cls(**PLACEHOLDERS)

    def kafka_options(self) -> dict[str, str]:
        options = {"properties.bootstrap.servers": self.brokers,
                   "properties.security.protocol": self.security_protocol}
        sasl = self.security_protocol.startswith("SASL") or self.security_protocol == PLACEHOLDERS["security_protocol"]
        if not sasl:
            return options
        user = self.username.replace('"', '\\"')
        password = self.password.replace('"', '\\"')
        options["properties.sasl.mechanism"] = self.sasl_mechanism
        options["properties.sasl.jaas.config"] = (
            f'{SCRAM_LOGIN_MODULE} required username="{user}" password="{password}";')
        return options


# Types ----------------------------------------------------------------------------------------------
def sql_type(annotation: Any) -> str:
    """The Flink SQL type the JSON format reads a field of this Python type into."""
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        members = [arg for arg in typing.get_args(annotation) if arg is not type(None)]
        if len(members) == 1:
            return sql_type(members[0])
    if origin is typing.Literal or (isinstance(annotation, type) and issubclass(annotation, Enum)):
        return "STRING"
    if origin is dict or annotation is dict:
        return "MAP<STRING, STRING>"  # values as JSON text: a nested object becomes its JSON
    if annotation is Any:
        return "STRING"  # any JSON value, as its JSON text
    if annotation is datetime:
        return "STRING"  # parsed into event_time (Flink's JSON timestamps reject `+00:00`)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return row_type(annotation)
    if annotation in _SCALARS:
        return _SCALARS[annotation]
    raise SchemaTypeError(f"no Flink SQL type for {annotation!r}")


def row_type(model: type[BaseModel]) -> str:
    fields = ", ".join(f"{quote(name)} {sql_type(info.annotation)}" for name, info in model.model_fields.items())
    return f"ROW<{fields}>"


def quote(identifier: str) -> str:
    return f"`{identifier.replace('`', '``')}`"


def literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def table_name(event_type: EventType | str) -> str:
    """`test.failed` -> `test_failed`."""
    return EventType(event_type).value.replace(".", "_")


def envelope_columns(event_type: EventType) -> list[tuple[str, str]]:
    """(name, type) of the physical columns: the envelope, with the type's payload model as `payload`."""
    columns = []
    for name, info in ArgusEvent.model_fields.items():
        kind = row_type(PAYLOADS[event_type]) if name == "payload" else sql_type(info.annotation)
        columns.append((name, kind))
    return columns


# Statements -----------------------------------------------------------------------------------------
def event_time_expression(column: str = "timestamp") -> str:
    """The envelope timestamp as a UTC TIMESTAMP(3): parsed, shifted by its offset, else the record's time.

    Producers that use `ArgusEvent` always write UTC; the offset shift keeps raw producers right too.
    A record whose timestamp does not parse falls back to the Kafka timestamp, so a rowtime is never NULL.
    """
    ts = quote(column)
    offset = f"RIGHT({ts}, 6)"
    minutes = (f"(CAST(SUBSTRING({offset} FROM 2 FOR 2) AS INT) * 60 + CAST(SUBSTRING({offset} FROM 5 FOR 2) AS INT))"
               f" * CASE WHEN LEFT({offset}, 1) = '-' THEN 1 ELSE -1 END")
    shift = f"CASE WHEN REGEXP({ts}, '[+-][0-9]{{2}}:[0-9]{{2}}$') THEN {minutes} ELSE 0 END"
    parsed = f"TIMESTAMPADD(MINUTE, {shift}, TO_TIMESTAMP({ts}, {literal(TIMESTAMP_FORMAT)}))"
    return f"COALESCE({parsed}, CAST(`kafka_timestamp` AS TIMESTAMP(3)))"


def table_options(spec: TopicSpec, connection: Connection, bounded: bool) -> dict[str, str]:
    options = {
        "connector": "kafka",
        "topic": f"{connection.topic_prefix}.{spec.event_type.value}",
        **connection.kafka_options(),
        # The jobs write the DLQ in transactions: never read records of open or aborted ones.
        "properties.isolation.level": "read_committed",
        "scan.startup.mode": "earliest-offset",
        "format": "json",
        # Payload fields a type does not have are NULL; records that are not JSON are skipped (the jobs
        # send those to the DLQ, which is a table too).
        "json.fail-on-missing-field": "false",
        "json.ignore-parse-errors": "true",
    }
    if bounded:
        options["scan.bounded.mode"] = "latest-offset"  # read up to the end as of the start, then finish
    return options


def create_table(spec: TopicSpec, connection: Connection, bounded: bool = False) -> str:
    lines = [f"  {quote(name)} {kind}" for name, kind in envelope_columns(spec.event_type)]
    lines += [f"  {quote(name)} {kind} METADATA FROM {literal(key)} VIRTUAL" for name, kind, key in METADATA_COLUMNS]
    lines.append(f"  {quote(EVENT_TIME)} AS {event_time_expression()}")
    lines.append(f"  WATERMARK FOR {quote(EVENT_TIME)} AS {quote(EVENT_TIME)} - INTERVAL '{WATERMARK_DELAY_S}' SECOND")
    options = ",\n".join(f"  {literal(k)} = {literal(v)}" for k, v in table_options(spec, connection, bounded).items())
    return (f"-- {spec.name}: {spec.partitions} partitions, {spec.retention_days} days\n"
            f"CREATE TABLE {quote(table_name(spec.event_type))} (\n" + ",\n".join(lines) + f"\n) WITH (\n{options}\n)")


def all_events_view(specs: list[TopicSpec]) -> str:
    """Every topic's envelope in one stream (payloads differ per type, so they are left out)."""
    columns = [name for name in ArgusEvent.model_fields if name != "payload"]
    columns += [name for name, _, _ in METADATA_COLUMNS] + [EVENT_TIME]
    select = ", ".join(quote(c) for c in columns)
    # Identifiers only, all from the catalog and quoted: nothing here comes from input.
    unions = "\nUNION ALL\n".join(f"SELECT {select} FROM {quote(table_name(s.event_type))}"  # noqa: S608
                                   for s in specs)
    return f"-- The envelope of every event on the 8 topics\nCREATE VIEW {quote(ALL_EVENTS_VIEW)} AS\n{unions}"


def create_function() -> str:
    return f"CREATE TEMPORARY SYSTEM FUNCTION {UDF_NAME} AS {literal(UDF_PATH)} LANGUAGE PYTHON"


def statements(connection: Connection, bounded: bool = False, with_function: bool = True) -> list[str]:
    """The 8 tables, the all-events view and the UDF (the session time zone is a setting: `SESSION_CONFIG`)."""
    specs = catalog(connection.topic_prefix)
    result = [create_table(spec, connection, bounded) for spec in specs]
    result.append(all_events_view(specs))
    if with_function:
        result.append(create_function())
    return result


HEADER = """\
-- Flink SQL tables of the Argus topics. GENERATED by argus_streams/flink/sql_ddl.py from the topic catalog and
-- the event schema: do not edit; run `make sql-ddl` (`argus-streams sql ddl --template`).
--
-- ${...} are the connection settings (the variables of `argus-streams config`). The SQL client with them:
--   argus-streams sql client [--bounded] [-- -f script.sql]
-- or by hand, from the repository (what that command runs; stack.env has every variable):
--   set -a; . .state/stack/stack.env; ARGUS_TOPIC_PREFIX=argus; set +a
--   (umask 077; envsubst < sql/ddl.sql > .state/ddl.sql)   # it holds the password
--   HADOOP_CLASSPATH=target/flink-sql-client/flink-sql-gateway-2.2.1.jar PYTHONPATH=$PWD \\
--     .venv/lib/python3.11/site-packages/pyflink/bin/sql-client.sh -i .state/ddl.sql \\
--     $(printf -- '-j %s ' target/flink-lib/*.jar) -pyfs $PWD/udfs -pyexec $PWD/.venv/bin/python \\
--     -pyclientexec $PWD/.venv/bin/python -Dexecution.target=remote -Drest.address=127.0.0.1 -Drest.port=8081
--   (absolute paths for -pyfs and -pyexec: with relative ones the client hung here)
"""


def render(connection: Connection, bounded: bool = False, with_function: bool = True) -> str:
    """A SQL client init script: the session settings, then `statements`. Bounded tables come with batch
    mode, set first: a view keeps the time attributes of the mode it was created in."""
    config = {**SESSION_CONFIG, **({"execution.runtime-mode": "batch"} if bounded else {})}
    settings = [f"SET {literal(key)} = {literal(value)}" for key, value in config.items()]
    body = [*settings, *statements(connection, bounded, with_function)]
    return HEADER + "\n" + "".join(f"{s};\n\n" for s in body).rstrip() + "\n"


def template() -> str:
    """The contents of sql/ddl.sql."""
    return render(Connection.placeholders())
