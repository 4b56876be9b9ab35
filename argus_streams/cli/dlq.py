"""`argus-streams dlq list|show|replay|resolve|discard`: the manual review of dead letters (review.py).

    argus-streams dlq list --tenant acme --since 24h        # also --topic, --error-type, --until, --status
    argus-streams dlq show ID
    argus-streams dlq replay --tenant acme --error-type KeyError --dry-run    # counts first, then without
    argus-streams dlq resolve ID --note "fixed in the producer"

Replay sends each row's original key, value and headers to its original topic. It is resumable: rows
are marked 'replaying' before they are sent and 'replayed' once the broker acknowledged them, and a
run picks up rows still 'replaying' from an interrupted one. A row is sent at least once (an interruption
between the acknowledgement and the mark sends it again; consumers dedupe by event_id) and is not sent
again once 'replayed' unless --force.
"""

from __future__ import annotations

import argparse
import getpass
import json
import re
import sys
from collections import Counter
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from argus_streams.bus.principals import REVIEW
from argus_streams.dlq.review import DISCARDED, RESOLVED, STATUSES, FailedEvent, ReviewFilter, ReviewStore
from argus_streams.errors import ArgusStreamsError, PublishError
from argus_streams.settings import Settings
from argus_streams.stores.pg import DEFAULT_SCHEMA

DEFAULT_LIST_LIMIT = 100
REPLAY_BATCH = 100  # rows claimed, sent and acknowledged together: at most this many are re-sent after a crash
MESSAGE_WIDTH = 60
VALUE_PREVIEW = 2000  # characters of the value `show` prints
_RELATIVE = re.compile(r"^(\d+)([smhd])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


def _login() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no USER and no passwd entry (some containers)
        return "unknown"


def parse_time(text: str, now: datetime | None = None) -> datetime:
    """`30m`, `24h`, `7d` ago, or an ISO 8601 date/time (UTC when it names no zone)."""
    match = _RELATIVE.match(text.strip())
    if match:
        return (now or datetime.now(UTC)) - timedelta(**{_UNITS[match[2]]: int(match[1])})
    try:
        parsed = datetime.fromisoformat(text.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a time: {text!r} (use 24h, 7d, or 2026-01-31T12:00)") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


# --- Output -----------------------------------------------------------------------------------------------------


def printable(text: str, keep: str = "") -> str:
    """`text` safe for a terminal: control and format characters (ANSI escapes, carriage returns, bidi
    overrides) shown as their escape (`\\x1b`), never sent; a dead letter's fields are anyone's bytes."""
    return "".join(ch if ch.isprintable() or ch in keep else ch.encode("unicode_escape").decode() for ch in text)


def _one_line(text: str, width: int) -> str:
    line = " ".join(text.split())
    return line if len(line) <= width else line[:width - 3] + "..."


def _position(row: FailedEvent) -> str:
    return f"{row.original_partition if row.original_partition is not None else '-'}/" \
           f"{row.original_offset if row.original_offset is not None else '-'}"


def _table(header: Sequence[str], rows: Iterable[Sequence[object]], right: Sequence[int] = ()) -> str:
    cells = [list(header)] + [[printable(str(c)) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    lines = []
    for r in cells:
        parts = [c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(r, widths, strict=True))]
        lines.append("  ".join(parts).rstrip())
    return "\n".join(lines)


def format_rows(rows: Sequence[FailedEvent]) -> str:
    header = ("ID", "STATUS", "TENANT", "TOPIC", "PART/OFFSET", "ERROR TYPE", "RETRIES", "LAST FAILED", "MESSAGE")
    return _table(header, ((r.id, r.status, r.tenant_id, r.original_topic, _position(r), r.error_type,
                            r.retry_count, r.last_failed_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%SZ"),
                            _one_line(r.error_message, MESSAGE_WIDTH)) for r in rows))


def format_counts(counts: dict[tuple[str, str], int]) -> str:
    return _table(("TOPIC", "ERROR TYPE", "COUNT"), ((t, e, n) for (t, e), n in sorted(counts.items())), right=(2,))


def format_row(row: FailedEvent) -> str:
    def when(at: datetime | None) -> str:
        return at.astimezone(UTC).isoformat(timespec="seconds") if at else "-"

    status = f"{row.status} since {when(row.status_changed_at)}" + (f" by {row.status_by}" if row.status_by else "")
    value = row.original_value.decode("utf-8", errors="backslashreplace")
    lines = [
        ("id", row.id), ("status", status + (f": {row.status_note}" if row.status_note else "")),
        ("tenant", row.tenant_id), ("source", row.source),
        ("original", f"{row.original_topic} partition {row.original_partition} offset {row.original_offset}"),
        ("key", str(row.original_key)), ("event id", row.event_id or "-"), ("dead letter", row.dead_letter_id),
        ("error", f"{row.error_type}: {row.error_message}"),
        ("retries", f"{row.retry_count} of {row.max_retries}"),
        ("failed", f"first {when(row.first_failed_at)}, last {when(row.last_failed_at)}"),
        ("replayed", f"{row.replay_count}x, last {when(row.replayed_at)} to {row.replayed_to}" if row.replay_count
         else "never"),
        ("headers", json.dumps(row.original_headers, sort_keys=True)),
        (f"value ({len(row.original_value)} bytes)",
         value if len(value) <= VALUE_PREVIEW else value[:VALUE_PREVIEW] + f"... ({len(value) - VALUE_PREVIEW} more)"),
    ]
    body = "\n".join(f"{name + ':':<22}{printable(text)}" for name, text in lines)
    traceback = "\n".join("    " + printable(line) for line in row.error_traceback.rstrip().splitlines())
    return f"{body}\ntraceback:\n{traceback}"


# --- Replay -----------------------------------------------------------------------------------------------------


class ReplayProducer:
    """Sends rows' original records with the gateway's producer settings (acks=all, idempotent, bounded)."""

    def __init__(self, settings: Settings):
        from kafka import KafkaProducer
        from kafka.errors import KafkaError

        from argus_streams.bus.gateway import EventGateway

        config = {**EventGateway(settings).producer_config(), "client_id": "argus-dlq-replay"}
        try:
            self._producer = KafkaProducer(**config)
        except KafkaError as exc:
            raise PublishError(f"cannot reach broker {settings.brokers}: {exc!r}") from exc
        self._timeout_s = config["delivery_timeout_ms"] / 1000 + 1

    def send(self, rows: Sequence[FailedEvent]) -> list[tuple[FailedEvent, str | None, str | None]]:
        """Each row with where the broker put it (topic/partition/offset), or the error."""
        futures = [(row, self._producer.send(
            row.original_topic, value=row.original_value,
            key=row.original_key.encode() if row.original_key is not None else None,
            headers=[(name, value.encode()) for name, value in row.original_headers.items()])) for row in rows]
        results: list[tuple[FailedEvent, str | None, str | None]] = []
        for row, future in futures:
            try:
                meta = future.get(timeout=self._timeout_s)
                results.append((row, f"{meta.topic}/{meta.partition}/{meta.offset}", None))
            except Exception as exc:  # KafkaError or a timeout: reported per row, and the run stops
                results.append((row, None, repr(exc)))
        return results

    def close(self) -> None:
        self._producer.close(timeout=10)


def replay(store: ReviewStore, producer: Any, rows: Sequence[FailedEvent], actor: str, force: bool,
           batch: int = REPLAY_BATCH) -> tuple[list[FailedEvent], list[tuple[FailedEvent, str]]]:
    """Claim, send and mark rows batch by batch; returns (replayed, failed with their error)."""
    done: list[FailedEvent] = []
    failed: list[tuple[FailedEvent, str]] = []
    for start in range(0, len(rows), batch):
        claimed = store.claim_for_replay([r.id for r in rows[start:start + batch]], actor, force)
        for row, position, error in producer.send(claimed):
            if position is not None:
                store.mark_replayed(row.id, position)
                done.append(row)
            else:
                failed.append((row, error or "unknown error"))
        if failed:
            break  # the broker is in trouble: stop; what is left stays 'pending' or 'replaying' for the next run
    return done, failed


# --- Commands ---------------------------------------------------------------------------------------------------


def _selection(args: argparse.Namespace, require: bool = False) -> ReviewFilter:
    where = ReviewFilter(ids=tuple(getattr(args, "ids", None) or ()), tenant=args.tenant, topic=args.topic,
                         error_type=args.error_type, since=args.since, until=args.until,
                         statuses=tuple(args.status or ()))
    if require and where.is_empty() and not args.all:
        raise ArgusStreamsError(f"dlq {args.action}: select dead letters by id or filter, or say --all")
    return where


def _store(args: argparse.Namespace) -> ReviewStore:
    store = ReviewStore.from_settings(Settings.load(), args.schema)
    store.ensure_schema()
    return store


def cmd_dlq(args: argparse.Namespace) -> int:
    with _store(args) as store:
        return int(ACTIONS[args.action](store, args))


def _list(store: ReviewStore, args: argparse.Namespace) -> int:
    rows = store.find(_selection(args), limit=args.limit)
    if args.json:
        print(json.dumps([row.to_json_dict() for row in rows], indent=2))
        return 0
    print(format_rows(rows))
    more = " (the limit; --limit N shows more)" if args.limit is not None and len(rows) == args.limit else ""
    print(f"{_plural(len(rows))}{more}")
    return 0


def _show(store: ReviewStore, args: argparse.Namespace) -> int:
    row = store.get(args.id, tenant=args.tenant)
    if row is None:
        print(f"argus-streams: no dead letter {args.id}" + (f" for tenant {args.tenant}" if args.tenant else ""),
              file=sys.stderr)
        return 1
    print(json.dumps(row.to_json_dict(), indent=2) if args.json else format_row(row))
    return 0


def _replay(store: ReviewStore, args: argparse.Namespace) -> int:
    where = _selection(args, require=True)
    rows = store.replay_candidates(where, force=args.force)
    skipped = len(store.find(where)) - len(rows)
    note = f"; {skipped} skipped: already replayed, resolved or discarded (--force sends them)" if skipped else ""
    if args.dry_run or not rows:
        _print_counts(f"{'dry run: would replay' if args.dry_run else 'replayed'} {_plural(len(rows))}{note}", rows)
        return 0
    producer = ReplayProducer(Settings.load().as_principal(REVIEW.name))
    try:
        done, failed = replay(store, producer, rows, args.by, args.force, args.batch)
    finally:
        producer.close()
    _print_counts(f"replayed {len(done)} of {_plural(len(rows))}{note}", done)
    for row, error in failed:
        print(f"argus-streams: {row.id} to {row.original_topic}: {error} (run replay again to resume)", file=sys.stderr)
    return 1 if failed else 0


def _plural(n: int) -> str:
    return f"{n} dead letter{'s' if n != 1 else ''}"


def _print_counts(headline: str, rows: Sequence[FailedEvent]) -> None:
    print(headline)
    if rows:
        print(format_counts(dict(Counter((r.original_topic, r.error_type) for r in rows))))


def _set_status(status: str) -> Any:
    def run(store: ReviewStore, args: argparse.Namespace) -> int:
        changed = store.set_status(_selection(args, require=True), status, args.by, args.note)
        print(f"{status} {_plural(len(changed))}")
        for row_id in changed:
            print(f"  {row_id}")
        return 0
    return run


ACTIONS = {"list": _list, "show": _show, "replay": _replay, "resolve": _set_status(RESOLVED),
           "discard": _set_status(DISCARDED)}


def register(sub: Any) -> None:
    """Add `dlq` and its actions to the CLI's subcommands (argparse's `add_subparsers()` object)."""
    text = "manual review of dead letters: list, show, replay to the original topic, resolve, discard"
    dlq = sub.add_parser("dlq", help=text, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    dlq.set_defaults(handler=cmd_dlq)
    actions = dlq.add_subparsers(dest="action", required=True)

    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--schema", default=DEFAULT_SCHEMA, help="PostgreSQL schema of failed_events")
    common.add_argument("--tenant", help="only this tenant's dead letters")
    filters = argparse.ArgumentParser(add_help=False, parents=[common])
    filters.add_argument("--topic", help="original topic, e.g. argus.test.failed")
    filters.add_argument("--error-type", help="e.g. EventValidationError")
    filters.add_argument("--since", type=parse_time, help="last failure at or after (24h, 7d, ISO time)")
    filters.add_argument("--until", type=parse_time, help="last failure before (24h, 7d, ISO time)")
    filters.add_argument("--status", action="append", choices=STATUSES, help="repeat for several")
    acting = argparse.ArgumentParser(add_help=False, parents=[filters])
    acting.add_argument("ids", nargs="*", metavar="ID", help="review ids (as `list` shows them)")
    acting.add_argument("--all", action="store_true", help="act on every row the filters match, even with none")
    acting.add_argument("--by", default=_login(), help="who acts (default: the login name)")

    listing = actions.add_parser("list", parents=[filters], help="matching dead letters, latest first")
    listing.add_argument("--limit", type=int, default=DEFAULT_LIST_LIMIT)
    listing.add_argument("--json", action="store_true")
    show = actions.add_parser("show", parents=[common], help="one dead letter with its value and traceback")
    show.add_argument("id")
    show.add_argument("--json", action="store_true")
    again = actions.add_parser("replay", parents=[acting], help="send to the original topic (resumable)")
    again.add_argument("--dry-run", action="store_true", help="print counts by topic and error type, send nothing")
    again.add_argument("--force", action="store_true", help="also send rows already replayed, resolved or discarded")
    again.add_argument("--batch", type=int, default=REPLAY_BATCH, help=argparse.SUPPRESS)
    for name, verb in (("resolve", "mark handled"), ("discard", "mark not to be replayed")):
        done = actions.add_parser(name, parents=[acting], help=f"{verb}, with a note")
        done.add_argument("--note", required=True, help="why (kept with the row)")
