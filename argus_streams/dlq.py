"""Dead letters in the seed's format: the original record, where it came from, and why it failed.

Pure functions, shared by every job's DLQ side output and by the DLQ processor.
"""

from __future__ import annotations

import base64
import hashlib
import json
import traceback
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from argus_streams.events import ArgusEvent, EventType

MAX_RETRIES = 3
RETRY_COUNT_HEADER = "retry_count"
UNKNOWN_TENANT = "unknown"


@dataclass(frozen=True)
class SourceRecord:
    """A Kafka record as the jobs receive it (see RecordWithMetadataDeserializer.java)."""

    topic: str
    partition: int | None
    offset: int | None
    key: str | None
    value: bytes | None
    headers: dict[str, str] = field(default_factory=dict)
    timestamp_ms: int | None = None

    @classmethod
    def from_row(cls, row: Any) -> SourceRecord:
        return cls(topic=row[0], partition=row[1], offset=row[2], timestamp_ms=row[3], key=row[4],
                   value=bytes(row[5]) if row[5] is not None else None, headers=dict(row[6] or {}))

    @property
    def retry_count(self) -> int:
        """How often the DLQ processor already republished this record (0 for a first failure)."""
        try:
            return max(0, int(self.headers.get(RETRY_COUNT_HEADER, "0")))
        except ValueError:
            return 0


def dead_letter_id(record: SourceRecord, retry_count: int) -> str:
    """A stable UUID v4-shaped id per (record, attempt): a replay after a restart yields the same id."""
    seed = f"{record.topic}/{record.partition}/{record.offset}/{retry_count}"
    if record.partition is None or record.offset is None:  # no Kafka position (a refused graph row): its content
        seed += "/" + hashlib.sha256(record.value or b"").hexdigest()
    return str(uuid.UUID(bytes=uuid.uuid5(uuid.NAMESPACE_URL, seed).bytes, version=4))


def _original_json(record: SourceRecord) -> dict[str, Any]:
    try:
        obj = json.loads(record.value or b"")
        return obj if isinstance(obj, dict) else {}
    except (ValueError, UnicodeDecodeError, RecursionError):  # whatever the bytes are, the letter gets written
        return {}


def dead_letter(record: SourceRecord, error: BaseException, source: str,
                tb: str | None = None, now: datetime | None = None, retryable: bool = False) -> ArgusEvent:
    """The DLQ event for a record that failed with `error` (the seed's `_send_to_dlq` payload).

    `retryable` tells the DLQ processor whether a retry can help; our jobs dead-letter only records that
    cannot parse or that a database refused (a retry fails the same way), so the default is False.
    """
    original = _original_json(record)
    tenant = record.headers.get("tenant_id") or original.get("tenant_id")
    correlation = record.headers.get("correlation_id") or original.get("correlation_id")
    retry_count = record.retry_count + 1
    value = record.value or b""
    payload: dict[str, Any] = {
        "original_topic": record.topic,
        "original_partition": record.partition,
        "original_offset": record.offset,
        "original_key": record.key,
        "original_value": value.decode("utf-8", errors="backslashreplace"),
        "error_type": type(error).__name__,
        "error_message": str(error),
        "error_traceback": tb if tb is not None else "".join(traceback.format_exception(error)),
        "original_headers": record.headers,
    }
    try:
        value.decode("utf-8")
    except UnicodeDecodeError:
        payload["original_value_base64"] = base64.b64encode(value).decode()  # the exact bytes, for replay
    failed_at = (now or datetime.now(UTC)).isoformat()
    return ArgusEvent(
        event_id=dead_letter_id(record, retry_count),
        event_type=EventType.DLQ,
        timestamp=now or datetime.now(UTC),
        source=source,
        tenant_id=tenant if isinstance(tenant, str) and tenant else UNKNOWN_TENANT,
        correlation_id=correlation if isinstance(correlation, str) and correlation else dead_letter_id(record, 0),
        payload=payload,
        metadata={"retry_count": retry_count, "max_retries": MAX_RETRIES, "failed_at": failed_at,
                  "retryable": retryable},
    )


# --- The DLQ processor's decisions (jobs/dlq.py) -------------------------------------------------------------
# Errors that say the record itself is wrong: retrying it can only fail the same way, so it goes straight to
# manual review. Everything else (timeouts, unavailable services, unknown errors) is retried with backoff.
DATA_ERROR_TYPES = frozenset({
    "EventValidationError", "UnexpectedEventType", "ValidationError", "JSONDecodeError", "UnicodeDecodeError",
    "ValueError", "TypeError", "KeyError", "ConstraintError", "CypherSyntaxError", "CypherTypeError",
    "ResponseError",  # FalkorDB refusing a query: the row is bad (transient redis errors are ConnectionError)
})
BACKOFF_BASE_S = 2


@dataclass(frozen=True)
class Retry:
    """Republish `value` to `topic` with `key` and `headers` after `delay_ms`."""

    letter_id: str
    delay_ms: int
    topic: str
    key: str | None
    value: str
    headers: dict[str, str]


def backoff_ms(retry_count: int) -> int:
    """The seed's backoff: 2^retry_count seconds (2 s, 4 s, 8 s ... after the 1st, 2nd, 3rd failure)."""
    return BACKOFF_BASE_S ** max(0, retry_count) * 1000


def triage(letter: ArgusEvent) -> Retry | str:
    """A dead letter's fate: a Retry, or the reason it goes to manual review instead."""
    payload, metadata = letter.payload, letter.metadata
    retry_count = int(metadata.get("retry_count", 1))
    max_retries = int(metadata.get("max_retries", MAX_RETRIES))
    retryable = metadata.get("retryable")  # set by our jobs; the seed's services leave it out
    if retryable is False or (retryable is None and payload["error_type"] in DATA_ERROR_TYPES):
        return f"data error ({payload['error_type']}): a retry cannot fix it"
    if retry_count >= max_retries:
        return f"failed {retry_count} times (max_retries={max_retries})"
    if payload.get("original_partition") is None or payload.get("original_value_base64"):
        return "no original record to republish"  # a refused graph row, or bytes that are not text
    headers = {str(k): str(v) for k, v in (payload.get("original_headers") or {}).items()}
    headers[RETRY_COUNT_HEADER] = str(retry_count)
    return Retry(letter_id=letter.event_id, delay_ms=backoff_ms(retry_count), topic=payload["original_topic"],
                 key=payload.get("original_key"), value=payload["original_value"], headers=headers)
