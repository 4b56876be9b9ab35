"""`argus-streams topics|publish|lag`: the broker side: the topics, publishing files of events, consumer lag."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from argus_streams.bus.principals import ADMIN, GATEWAY, MONITOR
from argus_streams.cli import add_command
from argus_streams.settings import Settings


def cmd_topics(args: argparse.Namespace) -> int:
    from argus_streams.bus import admin
    settings = Settings.load().as_principal(ADMIN)  # creates topics and grants ACLs
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
    from argus_streams.bus.gateway import EventGateway
    from argus_streams.bus.io import publish_file

    with EventGateway(Settings.load().as_principal(GATEWAY.name)) as gateway:
        summary = publish_file(gateway, Path(args.file), topic=args.topic)
    for topic, count in sorted(summary.per_topic.items()):
        print(f"{topic:<26} {count:>8}")
    for line, error in summary.rejected:
        print(f"line {line}: rejected: {error}", file=sys.stderr)
    print(f"{'total':<26} {sum(summary.per_topic.values()):>8}  ({len(summary.rejected)} rejected)")
    return 1 if summary.rejected else 0


def cmd_lag(args: argparse.Namespace) -> int:
    from argus_streams.bus import lag
    settings = Settings.load().as_principal(MONITOR.name)
    groups = args.groups or None
    if args.serve is not None:
        lag.serve_lag_metrics(settings, args.serve, groups, args.interval)
        return 0
    rows = lag.describe_groups(settings, groups)
    print(lag.to_json(rows) if args.json else lag.format_table(rows))
    for group in sorted(set(args.groups) - {row.group for row in rows}):
        print(f"argus-streams: group {group!r} has no committed offsets", file=sys.stderr)
    return 0


def register(sub: Any) -> None:
    """Add this group's commands to the CLI's subcommands."""
    topics = add_command(sub, "topics", cmd_topics, "create or fix the 8 topics (ensure), or show them (list)")
    topics.add_argument("action", choices=["ensure", "list"])
    publish = add_command(sub, "publish", cmd_publish, "publish a JSONL file of ArgusEvents; prints per-topic counts")
    publish.add_argument("file")
    publish.add_argument("--topic", help="override the topic derived from each event's type")
    lag = add_command(sub, "lag", cmd_lag,
                      "consumer-group lag per partition (like `rpk group describe`), or serve it as metrics")
    lag.add_argument("groups", nargs="*", metavar="GROUP", help="default: every group")
    lag.add_argument("--json", action="store_true")
    lag.add_argument("--serve", type=int, metavar="PORT", help="serve Prometheus metrics on 127.0.0.1:PORT")
    lag.add_argument("--interval", type=float, default=15.0, metavar="S", help="--serve: refresh at most every S s")

