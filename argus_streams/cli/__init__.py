"""`argus-streams`: topics, publishing, settings, schemas, jobs, dead letters, SQL and the code graph.

One module per command group (`bus`, `config`, `jobs`, `dlq`, `sql`, `graph`), each with a `register(sub)`.
Other distributions add groups through the `argus_streams.cli` entry point group: the development package
(`dev/`) adds the local stack's `up`, `down`, `status`, `demo` and `metrics`.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable
from importlib import import_module
from importlib.metadata import entry_points
from typing import Any

from argus_streams.errors import ArgusStreamsError


def add_command(sub: Any, name: str, handler: Callable[[argparse.Namespace], int],
                help_text: str) -> argparse.ArgumentParser:
    """A subcommand whose arguments go to `handler` (which returns the exit status)."""
    command = sub.add_parser(name, help=help_text, description=help_text)
    command.set_defaults(handler=handler)
    return command


GROUPS = ("bus", "config", "jobs", "dlq", "sql", "graph")
PLUGIN_GROUP = "argus_streams.cli"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="argus-streams", description=__doc__.split("\n", 1)[0])
    parser.add_argument("-v", "--verbose", action="store_true", help="log at DEBUG level")
    sub = parser.add_subparsers(dest="command", required=True)
    for plugin in sorted(entry_points(group=PLUGIN_GROUP), key=lambda point: point.name):
        plugin.load()(sub)
    for group in GROUPS:
        import_module(f"argus_streams.cli.{group}").register(sub)
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
