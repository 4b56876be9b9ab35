"""`argus-streams job submit|list|cancel|savepoint`: our jobs on the Flink session cluster."""

from __future__ import annotations

import argparse
from typing import Any

from argus_streams.cli import add_command
from argus_streams.settings import Settings


def cmd_job(args: argparse.Namespace) -> int:
    from argus_streams.flink import cluster
    settings = Settings.load()
    if args.action == "submit":
        job_args, from_path = _split_submit_args(list(args.job_args))
        return _submit(settings, list(cluster.JOBS) if args.name == "all" else [args.name], job_args,
                       from_path or args.from_path)
    if args.action == "list":
        for job in cluster.list_jobs(settings):
            print(f"{job.id}  {job.state:<10} {job.name}")
    elif args.action == "cancel":
        cluster.cancel(settings, args.job_id)
        print(f"{args.job_id}: canceled")
    elif args.action == "savepoint":
        print(cluster.savepoint(settings, args.job_id, args.dir))
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
    from argus_streams.flink import cluster
    for name in names:
        if name not in cluster.JOBS:
            raise cluster.JobError(f"unknown job {name!r}; known: {', '.join(cluster.JOBS)}, all")
        running = cluster.running_as(settings, cluster.intended_name(settings, name, job_args))
        if running is not None and from_path:
            raise cluster.JobError(f"{name} is already running as {running}: cancel it "
                                   f"(argus-streams job cancel {running}) to restore it from {from_path}")
        if running is not None:
            print(f"{name}: already running as {running}  ({settings.flink_rest_url}/#/job/running/{running}/overview)")
            continue
        job_id = cluster.submit(settings, name, from_path=from_path, job_args=job_args)
        print(f"{name}: submitted as {job_id}  ({settings.flink_rest_url}/#/job/running/{job_id}/overview)")
    return 0


def register(sub: Any) -> None:
    """Add this group's commands to the CLI's subcommands."""
    job = add_command(sub, "job", cmd_job, "submit a job by name (or all), list jobs, cancel one, take a savepoint")
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

