"""`argus-streams sql ...`: the Flink SQL analytics of sql/ (run, list), their DDL, and the SQL client."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from urllib.parse import urlsplit

from argus_streams.bus.principals import ANALYTICS
from argus_streams.flink import sql_ddl
from argus_streams.home import REPO_ROOT
from argus_streams.settings import Settings

SQL_CLIENT_LIB = REPO_ROOT / "target" / "flink-sql-client"  # the SQL gateway jar (java/flink-sql-client)


def register(sub: argparse._SubParsersAction) -> None:
    """Add `sql` and its actions to the CLI's sub-commands."""
    sql = sub.add_parser("sql", help="Flink SQL analytics: run a file of sql/, print the DDL, open the SQL client",
                         description=__doc__)
    actions = sql.add_subparsers(dest="sql_action", required=True)

    run = actions.add_parser("run", help="run an analytics file on the Flink cluster")
    run.add_argument("file", help="a .sql file, or the name of one in sql/ (e.g. flaky_tests)")
    run.add_argument("--sink", choices=["print", "postgres"], default="print",
                     help="print: rows to the terminal (default); postgres: INSERT into a table (DATABASE_URL)")
    bound = run.add_mutually_exclusive_group()
    bound.add_argument("--bounded", dest="bounded", action="store_true", default=None,
                       help="read the topics up to their latest offsets, then finish (default for print)")
    bound.add_argument("--unbounded", dest="bounded", action="store_false",
                       help="keep running on new events (default for postgres; print: until Ctrl-C)")
    run.add_argument("--table", help="postgres: the table (default: analytics.<file name>)")
    run.add_argument("--topic-prefix", help="namespace of the topics (default: $ARGUS_TOPIC_PREFIX)")
    run.add_argument("--parallelism", type=int, default=2)
    run.set_defaults(handler=cmd_sql_run)

    listing = actions.add_parser("list", help="the analytics files and the question each answers")
    listing.set_defaults(handler=cmd_sql_list)

    ddl = actions.add_parser("ddl", help="the tables' DDL for the current settings (holds the password)")
    ddl.add_argument("--template", action="store_true", help="with ${VARIABLE} placeholders: sql/ddl.sql")
    ddl.add_argument("--bounded", action="store_true", help="tables that end at the latest offsets")
    ddl.add_argument("--topic-prefix", help="namespace of the topics (default: $ARGUS_TOPIC_PREFIX)")
    ddl.add_argument("--out", help="write to this file (mode 0600) instead of stdout")
    ddl.set_defaults(handler=cmd_sql_ddl)

    client = actions.add_parser("client", help="the wheel's sql-client.sh on the cluster, tables and UDF defined")
    client.add_argument("--bounded", action="store_true", help="batch mode, tables end at the latest offsets")
    client.add_argument("--topic-prefix", help="namespace of the topics (default: $ARGUS_TOPIC_PREFIX)")
    client.add_argument("client_args", nargs=argparse.REMAINDER, help="after --: arguments for sql-client.sh")
    client.set_defaults(handler=cmd_sql_client)


def _settings(args: argparse.Namespace) -> Settings:
    settings = Settings.load().as_principal(ANALYTICS.name)
    prefix = getattr(args, "topic_prefix", None)
    return settings.model_copy(update={"topic_prefix": prefix}) if prefix else settings


def resolve_file(name: str) -> Path:
    from argus_streams.flink.sql_runner import SQL_DIR, SqlError

    for candidate in (Path(name), SQL_DIR / name, SQL_DIR / f"{name}.sql"):
        if candidate.is_file():
            return candidate
    raise SqlError(f"no SQL file {name!r} (neither a path nor a file of {SQL_DIR})")


def cmd_sql_run(args: argparse.Namespace) -> int:
    from argus_streams.flink import sql_runner
    settings = _settings(args)
    query = sql_runner.parse_query(resolve_file(args.file))
    bounded = args.bounded if args.bounded is not None else args.sink == "print"
    if args.sink == "postgres":
        job_id, table = sql_runner.to_postgres(settings, query, bounded=bounded, table=args.table,
                                               parallelism=args.parallelism)
        state = "done" if bounded else "running"
        print(f"{query.name}: {state} as {job_id} -> PostgreSQL table {table}  "
              f"({settings.flink_rest_url}/#/job/running/{job_id}/overview)")
        return 0
    if bounded:
        columns, rows = sql_runner.query_rows(settings, query, parallelism=args.parallelism)
        print(sql_runner.format_table(columns, rows))
        print(f"({len(rows)} rows)")
        return 0
    try:
        for kind, row in sql_runner.follow_rows(settings, query, parallelism=args.parallelism):
            print(kind, "  ".join(sql_runner.format_value(v) for v in row), flush=True)
    except KeyboardInterrupt:
        print("stopped; the job is cancelled", file=sys.stderr)
    return 0


def cmd_sql_list(args: argparse.Namespace) -> int:
    from argus_streams.flink import sql_runner
    for path in sql_runner.analytics_files():
        query = sql_runner.parse_query(path)
        print(f"{query.name:<24} {query.question.split(':')[0]}")
    return 0


def cmd_sql_ddl(args: argparse.Namespace) -> int:
    if args.template:
        text = sql_ddl.template()
    else:
        text = sql_ddl.render(sql_ddl.Connection.from_settings(_settings(args)), bounded=args.bounded)
    if not args.out:
        sys.stdout.write(text)
        return 0
    out = Path(args.out)
    out.touch(mode=0o600, exist_ok=True)
    out.write_text(text)
    print(out)
    return 0


def sql_client_command(settings: Settings, init_file: Path, extra: list[str]) -> tuple[list[str], dict[str, str]]:
    """The wheel's sql-client.sh with our jars, the UDF's Python path and the cluster; and its environment."""
    import pyflink

    from argus_streams.flink.kit import FLINK_LIB

    rest = urlsplit(settings.flink_rest_url)
    python = sys.executable
    command = [str(Path(pyflink.__file__).parent / "bin" / "sql-client.sh"), "-i", str(init_file)]
    for jar in sorted(FLINK_LIB.glob("*.jar")):
        command += ["-j", str(jar)]
    command += ["-pyfs", str(REPO_ROOT / "udfs"), "-pyexec", python, "-pyclientexec", python,
                "-Dexecution.target=remote", f"-Drest.address={rest.hostname}", f"-Drest.port={rest.port or 8081}"]
    env = dict(os.environ)
    # The wheel has no opt/flink-sql-gateway jar; the script adds HADOOP_CLASSPATH to its class path.
    gateway = ":".join(str(jar) for jar in sorted(SQL_CLIENT_LIB.glob("*.jar")))
    env["HADOOP_CLASSPATH"] = f"{gateway}:{env['HADOOP_CLASSPATH']}" if env.get("HADOOP_CLASSPATH") else gateway
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))  # `udfs.signature`
    env["PATH"] = f"{Path(python).parent}{os.pathsep}{env.get('PATH', '')}"
    return command + extra, env


def cmd_sql_client(args: argparse.Namespace) -> int:
    settings = _settings(args)
    extra = args.client_args[1:] if args.client_args[:1] == ["--"] else args.client_args
    text = sql_ddl.render(sql_ddl.Connection.from_settings(settings), bounded=args.bounded)
    with tempfile.TemporaryDirectory(prefix="argus-sql-") as folder:  # 0700: the init file holds the password
        init_file = Path(folder) / "init.sql"
        init_file.write_text(text)
        command, env = sql_client_command(settings, init_file, extra)
        return subprocess.call(command, env=env)
