"""Dead letters in the seed's format: the original record, where it came from, and why it failed.

Pure functions, shared by every job's DLQ side output and by the DLQ processor.
"""

from __future__ import annotations

import base64
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
    seed = f"{record.topic}/{record.partition}/{record.offset}/{retry_count}".encode()
    return str(uuid.UUID(bytes=uuid.uuid5(uuid.NAMESPACE_URL, seed.decode()).bytes, version=4))


def _original_json(record: SourceRecord) -> dict[str, Any]:
    try:
        obj = json.loads(record.value or b"")
        return obj if isinstance(obj, dict) else {}
    except (ValueError, UnicodeDecodeError):
        return {}


def dead_letter(record: SourceRecord, error: BaseException, source: str,
                tb: str | None = None, now: datetime | None = None) -> ArgusEvent:
    """The DLQ event for a record that failed with `error` (the seed's `_send_to_dlq` payload)."""
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
        metadata={"retry_count": retry_count, "max_retries": MAX_RETRIES, "failed_at": failed_at},
    )
