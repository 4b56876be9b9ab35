"""Run an analytics file of sql/ on the Flink session cluster: rows to the terminal, or into PostgreSQL.

    argus-streams sql run sql/failure_rate_per_suite.sql                   # bounded: prints the rows, ends
    argus-streams sql run sql/failure_rate_per_suite.sql --sink postgres   # continuous job -> a table

A file is a header comment (the question it answers, and `-- key: col, ...`, the result's key), optional
`CREATE TEMPORARY VIEW` statements, and one final SELECT. The tables it reads are `sql_ddl`'s.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from argus_streams.errors import ArgusStreamsError
from argus_streams.flink import sql_ddl
from argus_streams.home import REPO_ROOT
from argus_streams.settings import Settings

SQL_DIR = REPO_ROOT / "sql"
UDF_DIR = REPO_ROOT / "udfs"
DEFAULT_PARALLELISM = 2
# Idle partitions (no events for this long) no longer hold back the watermark of continuous queries.
# The clock starts with the job: at 5 s, partitions whose first fetch was slow (SASL login on a busy
# machine) went idle before their first record, another partition's later events moved the watermark,
# and their records arrived late and were dropped (seen here). A minute leaves the start alone.
SOURCE_IDLE_TIMEOUT = "60 s"
JDBC_FLUSH_INTERVAL = "1 s"
PG_SCHEMA = "analytics"

_KEY_LINE = re.compile(r"^--\s*key:\s*(.+)$", re.MULTILINE)


class SqlError(ArgusStreamsError):
    """An analytics file is malformed, or the cluster refused or failed its query."""


@dataclass(frozen=True)
class Query:
    name: str
    question: str  # the header comment, without the `--`
    setup: tuple[str, ...]  # statements before the query (views)
    select: str
    key: tuple[str, ...]  # columns that identify a result row (the PostgreSQL primary key)


# Files ----------------------------------------------------------------------------------------------
def split_statements(text: str) -> list[str]:
    """Statements separated by `;`, ignoring those in quotes, backticks and comments; comments are kept."""
    statements: list[str] = []
    current: list[str] = []
    i, quote = 0, ""
    while i < len(text):
        char = text[i]
        if quote:
            current.append(char)
            if char == quote:
                quote = ""
        elif char in "'`\"":
            quote = char
            current.append(char)
        elif text.startswith("--", i):
            end = text.find("\n", i)
            end = len(text) if end < 0 else end
            current.append(text[i:end])
            i = end
            continue
        elif text.startswith("/*", i):
            end = text.find("*/", i + 2)
            end = len(text) if end < 0 else end + 2
            current.append(text[i:end])
            i = end
            continue
        elif char == ";":
            statements.append("".join(current))
            current = []
        else:
            current.append(char)
        i += 1
    statements.append("".join(current))
    return [s.strip() for s in statements if _strip_comments(s).strip()]


def _strip_comments(statement: str) -> str:
    return re.sub(r"--[^\n]*", "", statement)


def parse_query(path: Path) -> Query:
    text = path.read_text()
    parts = split_statements(text)
    if not parts:
        raise SqlError(f"{path}: no statement")
    select = parts[-1]
    if not re.match(r"^\s*(SELECT|WITH)\b", _strip_comments(select), re.IGNORECASE):
        raise SqlError(f"{path}: the last statement must be the query (SELECT ... or WITH ...)")
    header = []
    for line in text.splitlines():
        if not line.startswith("--"):
            break
        header.append(line[2:].strip())
    key = _KEY_LINE.search(text)
    if not key:
        raise SqlError(f"{path}: the header needs `-- key: col, ...` (the columns that identify a result row)")
    question = " ".join(line for line in header if line and not line.startswith("key:"))
    return Query(name=path.stem, question=question, setup=tuple(parts[:-1]), select=select,
                 key=tuple(c.strip() for c in key.group(1).split(",")))


def analytics_files(directory: Path = SQL_DIR) -> list[Path]:
    return sorted(p for p in directory.glob("*.sql") if p.name != "ddl.sql")


# The cluster ----------------------------------------------------------------------------------------
def table_env(settings: Settings, *, bounded: bool, name: str, parallelism: int = DEFAULT_PARALLELISM) -> Any:
    """A TableEnvironment that submits to the session cluster at FLINK_REST_URL, with our tables and UDF."""
    from pyflink.table import EnvironmentSettings, TableEnvironment

    from argus_streams.flink.kit import lib_jars

    rest = urlsplit(settings.flink_rest_url)
    mode = EnvironmentSettings.in_batch_mode() if bounded else EnvironmentSettings.in_streaming_mode()
    env = TableEnvironment.create(mode)
    config = env.get_config()
    for key, value in {
        "execution.target": "remote",
        "rest.address": rest.hostname or "127.0.0.1",
        "rest.port": str(rest.port or 8081),
        "pipeline.name": f"argus-sql-{name}",
        "pipeline.jars": ";".join(lib_jars()),
        "parallelism.default": str(parallelism),
        "python.executable": sys.executable,
        "python.client.executable": sys.executable,
        "python.files": str(UDF_DIR),
        "python.execution-mode": "process",
        "table.exec.source.idle-timeout": SOURCE_IDLE_TIMEOUT,
        **sql_ddl.SESSION_CONFIG,
    }.items():
        config.set(key, value)
    # The client resolves `udfs.signature` when the function is created; workers get it from python.files.
    if str(UDF_DIR.parent) not in sys.path:
        sys.path.append(str(UDF_DIR.parent))
    for statement in sql_ddl.statements(sql_ddl.Connection.from_settings(settings), bounded=bounded):
        env.execute_sql(statement)
    return env


def _run_setup(env: Any, query: Query) -> Any:
    for statement in query.setup:
        env.execute_sql(statement)
    return env.sql_query(query.select)


def columns_of(table: Any) -> list[tuple[str, str, str]]:
    """(name, Flink type as SQL, type root) of each result column."""
    schema = table._j_table.getResolvedSchema()
    return [(c.getName(), c.getDataType().getLogicalType().asSerializableString(),
             c.getDataType().getLogicalType().getTypeRoot().name()) for c in schema.getColumns()]


def query_rows(settings: Settings, query: Query, parallelism: int = DEFAULT_PARALLELISM
               ) -> tuple[list[str], list[tuple[Any, ...]]]:
    """Run the query bounded (up to the topics' latest offsets) and return its column names and rows."""
    env = table_env(settings, bounded=True, name=query.name, parallelism=parallelism)
    table = _run_setup(env, query)
    names = [name for name, _, _ in columns_of(table)]
    result = table.execute()
    with result.collect() as rows:
        return names, [tuple(row) for row in rows]


def follow_rows(settings: Settings, query: Query, parallelism: int = DEFAULT_PARALLELISM
                ) -> Iterator[tuple[str, tuple[Any, ...]]]:
    """Run the query continuously and yield (change kind, row) until the caller stops; then cancel it."""
    env = table_env(settings, bounded=False, name=query.name, parallelism=parallelism)
    result = _run_setup(env, query).execute()
    client = result.get_job_client()
    try:
        with result.collect() as rows:
            for row in rows:
                yield row.get_row_kind().short_string(), tuple(row)
    finally:
        if client is not None:
            client.cancel()


# PostgreSQL -----------------------------------------------------------------------------------------
_PG_TYPES = {
    "CHAR": "TEXT", "VARCHAR": "TEXT", "BOOLEAN": "BOOLEAN", "TINYINT": "SMALLINT", "SMALLINT": "SMALLINT",
    "INTEGER": "INTEGER", "BIGINT": "BIGINT", "FLOAT": "REAL", "DOUBLE": "DOUBLE PRECISION", "DATE": "DATE",
    "TIMESTAMP_WITHOUT_TIME_ZONE": "TIMESTAMP(3)", "TIMESTAMP_WITH_LOCAL_TIME_ZONE": "TIMESTAMPTZ(3)",
}


def pg_type(flink_type: str, root: str) -> str:
    if root == "DECIMAL":
        return re.sub(r"^DECIMAL", "NUMERIC", flink_type.replace(" NOT NULL", ""))
    if root not in _PG_TYPES:
        raise SqlError(f"no PostgreSQL type for result columns of type {flink_type}")
    return _PG_TYPES[root]


def pg_table_name(query: Query, override: str | None = None) -> str:
    name = override or query.name
    return name if "." in name else f"{PG_SCHEMA}.{name}"


def pg_create_table(table: str, columns: list[tuple[str, str, str]], key: tuple[str, ...]) -> str:
    missing = set(key) - {name for name, _, _ in columns}
    if missing:
        raise SqlError(f"key columns {sorted(missing)} are not in the query's result")
    body = ", ".join(f'"{name}" {pg_type(kind, root)}' for name, kind, root in columns)
    primary = ", ".join(f'"{k}"' for k in key)
    return f"CREATE TABLE IF NOT EXISTS {table} ({body}, PRIMARY KEY ({primary}))"


def jdbc_url(database_url: str) -> tuple[str, str, str]:
    """(jdbc url, user, password) of a `postgresql://user:password@host:port/db` URL."""
    parts = urlsplit(database_url)
    url = f"jdbc:postgresql://{parts.hostname}:{parts.port or 5432}{parts.path}"
    return url, unquote(parts.username or ""), unquote(parts.password or "")


def jdbc_sink_ddl(sink: str, table: str, columns: list[tuple[str, str, str]], key: tuple[str, ...],
                  database_url: str) -> str:
    url, user, password = jdbc_url(database_url)
    body = ",\n".join(f"  {sql_ddl.quote(name)} {kind}" for name, kind, _ in columns)
    primary = ", ".join(sql_ddl.quote(k) for k in key)
    options = {"connector": "jdbc", "url": url, "table-name": table, "username": user, "password": password,
               "sink.buffer-flush.interval": JDBC_FLUSH_INTERVAL}
    with_ = ",\n".join(f"  {sql_ddl.literal(k)} = {sql_ddl.literal(v)}" for k, v in options.items())
    return (f"CREATE TEMPORARY TABLE {sql_ddl.quote(sink)} (\n{body},\n  PRIMARY KEY ({primary}) NOT ENFORCED\n)"
            f" WITH (\n{with_}\n)")


def ensure_pg_table(settings: Settings, table: str, statement: str) -> None:
    import psycopg2

    with psycopg2.connect(settings.database_url.get_secret_value()) as conn, conn.cursor() as cursor:
        cursor.execute(f"CREATE SCHEMA IF NOT EXISTS {table.split('.')[0]}")
        cursor.execute(statement)


def to_postgres(settings: Settings, query: Query, *, bounded: bool = False, table: str | None = None,
                parallelism: int = DEFAULT_PARALLELISM) -> tuple[str, str]:
    """Submit `INSERT INTO <PostgreSQL table> <query>`; returns (job id, table). Continuous unless bounded
    (then it waits for the job to finish)."""
    target = pg_table_name(query, table)
    env = table_env(settings, bounded=bounded, name=query.name, parallelism=parallelism)
    result_table = _run_setup(env, query)
    columns = columns_of(result_table)
    ensure_pg_table(settings, target, pg_create_table(target, columns, query.key))
    env.execute_sql(jdbc_sink_ddl("pg_sink", target, columns, query.key, settings.database_url.get_secret_value()))
    result = result_table.execute_insert("pg_sink")
    job_id = str(result.get_job_client().get_job_id())
    if bounded:
        result.wait()
    return job_id, target


# Output ---------------------------------------------------------------------------------------------
def format_value(value: Any) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, float):
        return f"{value:.4f}".rstrip("0").rstrip(".") if value != int(value) else f"{value:.1f}"
    return str(value)


def format_table(columns: list[str], rows: list[tuple[Any, ...]]) -> str:
    """Rows as aligned columns (like `lag`), sorted so that runs compare."""
    cells = [[format_value(v) for v in row] for row in sorted(rows, key=lambda r: [format_value(v) for v in r])]
    widths = [max([len(c)] + [len(r[i]) for r in cells]) for i, c in enumerate(columns)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True)).rstrip()]
    lines += ["  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip() for row in cells]
    return "\n".join(lines)
