"""The development package's commands of `argus-streams`: the local stack (`up`, `down`, `status`), `demo`, `metrics`.

Registered through the `argus_streams.cli` entry point group (dev/pyproject.toml): the runtime's CLI never
imports this package by name.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from argus_streams.cli import add_command


def _stack(args: argparse.Namespace):  # noqa: ANN202 - imported lazily: the stack pulls in every client
    from argus_dev.stack.base import StackLayout
    from argus_dev.stack.manager import Stack

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



def cmd_demo(args: argparse.Namespace) -> int:
    from argus_dev.demo import run_demo

    return run_demo(_stack(args))



def cmd_metrics(args: argparse.Namespace) -> int:
    from argus_dev import flink_metrics

    metrics = flink_metrics.job_metrics(_stack(args).layout, job=args.job)
    print(flink_metrics.to_json(metrics) if args.json else flink_metrics.format_table(metrics))
    return 0


def register(sub: Any) -> None:
    """Add the local stack's commands to the CLI's subcommands."""
    for name, handler, text in (
        ("up", cmd_up, "start the local stack (idempotent), wait for health, provision topics"),
        ("down", cmd_down, "stop what `up` started"),
        ("status", cmd_status, "health of every local service"),
    ):
        command = add_command(sub, name, handler, text)
        command.add_argument("--only", nargs="+", metavar="SERVICE",
                             help="kafka, flink, falkordb, neo4j, postgres")
        if name == "status":
            command.add_argument("--json", action="store_true")
    metrics = add_command(sub, "metrics", cmd_metrics,
                          "the jobs' own counters, scraped from the cluster's Prometheus endpoints")
    metrics.add_argument("--job", help="only this job, by its Flink name (e.g. argus-failures; `job list` shows them)")
    metrics.add_argument("--json", action="store_true")
    add_command(sub, "demo", cmd_demo, "bring the stack up and run the main flow on sample events")

