"""`argus-streams config|schema`: the effective settings (secrets masked) and the event contract's JSON Schemas."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from argus_streams.cli import add_command
from argus_streams.settings import Settings


def cmd_config(args: argparse.Namespace) -> int:
    for name, value in Settings.load().masked().items():
        print(f"{name}={value}")
    return 0


def cmd_schema(args: argparse.Namespace) -> int:
    from argus_streams.contract.payloads import json_schemas

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for stem, schema in json_schemas().items():
        path = out / f"{stem}.schema.json"
        path.write_text(json.dumps(schema, indent=2) + "\n")
        print(path)
    return 0


def register(sub: Any) -> None:
    """Add this group's commands to the CLI's subcommands."""
    add_command(sub, "config", cmd_config, "print the effective settings (secrets masked)")
    schema = add_command(sub, "schema", cmd_schema, "export the JSON Schemas of the event and of each payload")
    schema.add_argument("--out", default="schemas")

