"""`argus-streams`: the local stack, topics, publishing, settings, schemas and jobs from one command."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Callable
from pathlib import Path

from argus_streams.errors import ArgusStreamsError
from argus_streams.settings import Settings


def _stack(args: argparse.Namespace):  # noqa: ANN202 - imported lazily: the stack pulls in every client
    from argus_streams.stack.base import StackLayout
    from argus_streams.stack.manager import Stack

    return Stack(StackLayout.from_env(), only=tuple(args.only) if getattr(args, "only", None) else None)


def cmd_up(args: argparse.Namespace) -> int:
    _stack(args).up()
    return 0


def cmd_down(args: argparse.Namespace) -> int:
    _stack(args).down()
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    rows = _stack(args).status()
    if args.json:
        print(json.dumps([vars(row) for row in rows], indent=2))
    else:
        for row in rows:
            print(f"{row.name:<9} {row.state:<8} {row.endpoint}  log: {row.log}")
            if row.detail:
                print(f"          {row.detail}")
    return 0 if all(row.healthy for row in rows) else 3


def cmd_topics(args: argparse.Namespace) -> int:
    from argus_streams import admin

    settings = Settings.load()
    if args.action == "ensure":
        reports = admin.ensure_topics(settings)
        for report in reports:
            detail = "; ".join(report.actions + report.problems) or "as in the catalog"
            print(f"{report.spec.name:<26} {report.status:<8} {detail}")
        return 1 if any(r.problems for r in reports) else 0
    rows = admin.describe(settings)
    print(f"{'TOPIC':<26} {'PARTITIONS':>10} {'RETENTION':>10}  CATALOG")
    for row in rows:
        days = f"{row['retention_ms'] // 86_400_000}d" if row["retention_ms"] else "-"  # type: ignore[operator]
        want = f"{row['expected_partitions']} / {row['expected_retention_ms'] // 86_400_000}d"  # type: ignore[operator]
        print(f"{row['topic']:<26} {row['partitions'] or '-':>10} {days:>10}  {want}")
    return 0


def cmd_publish(args: argparse.Namespace) -> int:
    from argus_streams.gateway import EventGateway
    from argus_streams.kafka_io import publish_file

    with EventGateway(Settings.load()) as gateway:
        summary = publish_file(gateway, Path(args.file), topic=args.topic)
    for topic, count in sorted(summary.per_topic.items()):
        print(f"{topic:<26} {count:>8}")
    for line, error in summary.rejected:
        print(f"line {line}: rejected: {error}", file=sys.stderr)
    print(f"{'total':<26} {sum(summary.per_topic.values()):>8}  ({len(summary.rejected)} rejected)")
    return 1 if summary.rejected else 0


def cmd_config(args: argparse.Namespace) -> int:
    for name, value in Settings.load().masked().items():
        print(f"{name}={value}")
    return 0


def cmd_schema(args: argparse.Namespace) -> int:
    from argus_streams.payloads import json_schemas

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for stem, schema in json_schemas().items():
        path = out / f"{stem}.schema.json"
        path.write_text(json.dumps(schema, indent=2) + "\n")
        print(path)
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from argus_streams.demo import run_demo

    return run_demo(_stack(args))


def cmd_job(args: argparse.Namespace) -> int:
    from argus_streams import flink_jobs

    settings = Settings.load()
    if args.action == "submit":
        job_args, from_path = _split_submit_args(list(args.job_args))
        return _submit(settings, list(flink_jobs.JOBS) if args.name == "all" else [args.name], job_args,
                       from_path or args.from_path)
    if args.action == "list":
        for job in flink_jobs.list_jobs(settings):
            print(f"{job.id}  {job.state:<10} {job.name}")
    elif args.action == "cancel":
        flink_jobs.cancel(settings, args.job_id)
        print(f"{args.job_id}: canceled")
    elif args.action == "savepoint":
        print(flink_jobs.savepoint(settings, args.job_id, args.dir))
    return 0


def _split_submit_args(rest: list[str]) -> tuple[tuple[str, ...], str | None]:
    """What follows NAME (argparse.REMAINDER takes all of it): `--from PATH` before a `--` is ours, every other
    argument goes to the job (`job submit failures --from P -- --parallelism 1`)."""
    cut = rest.index("--") if "--" in rest else len(rest)
    ours, job_args, from_path = rest[:cut], rest[cut + 1:], None
    kept: list[str] = []
    tokens = iter(ours)
    for token in tokens:
        if token == "--from":
            from_path = next(tokens, None)
        elif token.startswith("--from="):
            from_path = token.split("=", 1)[1]
        else:
            kept.append(token)
    return tuple(kept + job_args), from_path


def _submit(settings: Settings, names: list[str], job_args: tuple[str, ...], from_path: str | None) -> int:
    """Submit each job unless one of the same Flink name (same job, consumer group and topic prefix) has not
    ended: re-running the command starts nothing twice."""
    from argus_streams import flink_jobs

    for name in names:
        if name not in flink_jobs.JOBS:
            raise flink_jobs.JobError(f"unknown job {name!r}; known: {', '.join(flink_jobs.JOBS)}, all")
        running = flink_jobs.running_as(settings, flink_jobs.intended_name(settings, name, job_args))
        if running is not None and from_path:
            raise flink_jobs.JobError(f"{name} is already running as {running}: cancel it "
                                      f"(argus-streams job cancel {running}) to restore it from {from_path}")
        if running is not None:
            print(f"{name}: already running as {running}  ({settings.flink_rest_url}/#/job/running/{running}/overview)")
            continue
        job_id = flink_jobs.submit(settings, name, from_path=from_path, job_args=job_args)
        print(f"{name}: submitted as {job_id}  ({settings.flink_rest_url}/#/job/running/{job_id}/overview)")
    return 0


def cmd_lag(args: argparse.Namespace) -> int:
    from argus_streams import lag

    settings = Settings.load()
    groups = args.groups or None
    if args.serve is not None:
        lag.serve_lag_metrics(settings, args.serve, groups, args.interval)
        return 0
    rows = lag.describe_groups(settings, groups)
    print(lag.to_json(rows) if args.json else lag.format_table(rows))
    for group in sorted(set(args.groups) - {row.group for row in rows}):
        print(f"argus-streams: group {group!r} has no committed offsets", file=sys.stderr)
    return 0


def cmd_metrics(args: argparse.Namespace) -> int:
    from argus_streams import flink_metrics

    metrics = flink_metrics.job_metrics(_stack(args).layout, job=args.job)
    print(flink_metrics.to_json(metrics) if args.json else flink_metrics.format_table(metrics))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="argus-streams", description=__doc__)
    parser.add_argument("-v", "--verbose", action="store_true", help="log at DEBUG level")
    sub = parser.add_subparsers(dest="command", required=True)

    def add(name: str, handler: Callable[[argparse.Namespace], int], help_text: str) -> argparse.ArgumentParser:
        command = sub.add_parser(name, help=help_text, description=help_text)
        command.set_defaults(handler=handler)
        return command

    for name, handler, text in (
        ("up", cmd_up, "start the local stack (idempotent), wait for health, provision topics"),
        ("down", cmd_down, "stop what `up` started"),
        ("status", cmd_status, "health of every local service"),
    ):
        command = add(name, handler, text)
        command.add_argument("--only", nargs="+", metavar="SERVICE",
                             help="kafka, flink, falkordb, neo4j, postgres")
        if name == "status":
            command.add_argument("--json", action="store_true")
    topics = add("topics", cmd_topics, "create or fix the 8 topics (ensure), or show them (list)")
    topics.add_argument("action", choices=["ensure", "list"])
    publish = add("publish", cmd_publish, "publish a JSONL file of ArgusEvents; prints per-topic counts")
    publish.add_argument("file")
    publish.add_argument("--topic", help="override the topic derived from each event's type")
    add("config", cmd_config, "print the effective settings (secrets masked)")
    schema = add("schema", cmd_schema, "export the JSON Schemas of the event and of each payload")
    schema.add_argument("--out", default="schemas")
    job = add("job", cmd_job, "submit a job by name (or all), list jobs, cancel one, take a savepoint")
    actions = job.add_subparsers(dest="action", required=True, metavar="ACTION")
    submit = actions.add_parser("submit", help="submit a job (or all) unless it already runs",
                                description="Submit a job unless one with the same name, consumer group and "
                                            "topic prefix has not ended (then: 'already running as <id>').")
    submit.add_argument("name", metavar="NAME", help="failures, healing, dlq, knowledge-graph, or all")
    submit.add_argument("--from", dest="from_path", help="restore from this savepoint/checkpoint")
    submit.add_argument("job_args", nargs=argparse.REMAINDER,
                        help="arguments for the job after --, e.g. -- --parallelism 1 (see the job's --help)")
    actions.add_parser("list", help="every job of the cluster: id, state, name")
    cancel = actions.add_parser("cancel", help="cancel a job (its last checkpoint is kept)")
    cancel.add_argument("job_id")
    savepoint = actions.add_parser("savepoint", help="take a savepoint of a running job and print its path")
    savepoint.add_argument("job_id")
    savepoint.add_argument("--dir", help="target directory (default: the cluster's)")
    lag = add("lag", cmd_lag, "consumer-group lag per partition (like `rpk group describe`), or serve it as metrics")
    lag.add_argument("groups", nargs="*", metavar="GROUP", help="default: every group")
    lag.add_argument("--json", action="store_true")
    lag.add_argument("--serve", type=int, metavar="PORT", help="serve Prometheus metrics on 127.0.0.1:PORT")
    lag.add_argument("--interval", type=float, default=15.0, metavar="S", help="--serve: refresh at most every S s")
    metrics = add("metrics", cmd_metrics, "the jobs' own counters, scraped from the cluster's Prometheus endpoints")
    metrics.add_argument("--job", help="only this job, by its Flink name (e.g. argus-failures; `job list` shows them)")
    metrics.add_argument("--json", action="store_true")
    add("demo", cmd_demo, "bring the stack up and run the main flow on sample events")
    from argus_streams import cli_dlq

    cli_dlq.register(sub)
    from argus_streams import cli_sql

    cli_sql.register(sub)
    from argus_streams import cli_graph

    cli_graph.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # SASL_PLAINTEXT is the local stack's (and the seed's) protocol: the client's warning about it is noise.
    logging.getLogger("kafka.net.sasl").setLevel(logging.ERROR)
    # kafka-python 3's I/O loop warns when a task holds it over 100 ms, which a busy 2-core machine does
    # often; it says nothing a user can act on (failed sends and reads are reported on their own).
    logging.getLogger("kafka.net.selector").setLevel(logging.ERROR)
    try:
        return args.handler(args)
    except ArgusStreamsError as exc:
        print(f"argus-streams: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
