"""Dead letters in the seed's format (the `argus.dlq` topic): the original record, where it came from, and why
it failed.

Pure functions, shared by every job's DLQ side output and by the DLQ processor. A dead letter is data
like any other record: whatever it holds, `dead_letter` builds one no bigger than MAX_DEAD_LETTER_BYTES
(the DLQ processor's `triage`, in argus_streams/dlq/triage.py, then decides its fate).
"""

from __future__ import annotations

import base64
import codecs
import hashlib
import json
import traceback
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from argus_streams.contract.events import ArgusEvent, EventType
from argus_streams.contract.topics import DLQ_MAX_MESSAGE_BYTES

MAX_RETRIES = 3
RETRY_COUNT_HEADER = "retry_count"
# Counts (retry_count, max_retries) are PostgreSQL integers; anything beyond is no count.
MAX_COUNT = 2 ** 31 - 1
UNKNOWN_TENANT = "unknown"

# --- Caps: a dead letter must always fit the DLQ topic, whatever the failed record held ----------------------
# The letter's JSON (the DLQ record's value). The DLQ sink and topic take 16 MiB (flink_kit.MAX_RECORD_BYTES,
# topics.DLQ_MAX_MESSAGE_BYTES) for value + key + headers; 12 MiB leaves 4 MiB for the capped key and headers
# below, and keeps the 10 MB poison record of the integration tests exact. An escaped value can be ~7x its
# bytes (a control byte is `\u0000` in JSON, invalid UTF-8 is `\\xff` plus its base64 copy), so a value that
# does not fit is cut, keeping its sha256 and size (ORIGINAL_VALUE_SHA256 / _SIZE).
MAX_DEAD_LETTER_BYTES = DLQ_MAX_MESSAGE_BYTES * 3 // 4
# Each piece of context copied into a letter (error message, traceback, key, topic, source), as JSON.
MAX_CONTEXT_BYTES = 64 * 1024
# All of a record's headers, as JSON in the letter and as UTF-8 on the DLQ record.
MAX_HEADERS_BYTES = 64 * 1024
# A tenant or correlation id longer than this is not one: the letter uses the defaults instead.
MAX_ID_CHARS = 256
TRUNCATED_FLAG, ORIGINAL_VALUE_SIZE, ORIGINAL_VALUE_SHA256 = (
    "original_value_truncated", "original_value_size", "original_value_sha256")
HEADERS_DROPPED = "original_headers_dropped"  # how many headers did not fit MAX_HEADERS_BYTES


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
        """How often the DLQ processor already republished this record (0 for a first failure, or for a
        header that is no count: missing, null, not a number, negative)."""
        count = parse_count(self.headers.get(RETRY_COUNT_HEADER, "0"))
        return min(count, MAX_COUNT - 1) if count is not None and count > 0 else 0  # + 1 is still a count


def dead_letter_id(record: SourceRecord, retry_count: int) -> str:
    """A stable UUID v4-shaped id per (record, attempt): a replay after a restart yields the same id."""
    seed = f"{record.topic}/{record.partition}/{record.offset}/{retry_count}"
    if record.partition is None or record.offset is None:  # no Kafka position (a refused graph row): its content
        seed += "/" + hashlib.sha256(record.value or b"").hexdigest()
    return str(uuid.UUID(bytes=uuid.uuid5(uuid.NAMESPACE_URL, kafka_text(seed)).bytes, version=4))


# --- Bounded copies of untrusted text ------------------------------------------------------------------------

def json_size(value: Any) -> int:
    """Bytes of `value` in a letter (json.dumps escapes to ASCII, so characters are bytes)."""
    return len(json.dumps(value))


def truncation_marker(size: int, sha256: str) -> str:
    return f"...[truncated by argus-streams: {size} bytes, sha256 {sha256}]"


def fit_text(text: str, max_bytes: int, original: bytes | None = None) -> str:
    """`text` itself when its JSON takes at most `max_bytes`, else its longest prefix that fits with a
    marker naming the original's UTF-8 size and sha256. Escapes at most `max_bytes` characters (each takes
    one byte or more), whatever the length of `text`. With `original`, `text` is (a prefix of) those bytes
    as text, to be cut in any case, and the marker names them."""
    escaped = json.dumps(text[:max_bytes])
    if original is None and len(text) <= max_bytes and len(escaped) <= max_bytes:
        return text
    raw = original if original is not None else text.encode("utf-8", errors="surrogatepass")
    marker = truncation_marker(len(raw), hashlib.sha256(raw).hexdigest())
    cut = min(max(1, max_bytes - len(marker) - 1), len(escaped) - 1)  # escaped[0] and [-1] are its quotes
    for end in range(cut, max(0, cut - 13), -1):  # back off out of a split escape (`\\`, `\u00e9`, a pair)
        try:
            prefix: str = json.loads(escaped[:end] + '"')
        except ValueError:
            continue
        if prefix and "\ud800" <= prefix[-1] <= "\udbff":
            prefix = prefix[:-1]  # half a surrogate pair
        return prefix + marker
    return marker


def _fit_id(value: Any) -> str | None:
    """An id as the envelope takes it: text of 1..MAX_ID_CHARS characters, valid Unicode (pydantic refuses
    lone surrogates, which JSON can spell), else None (the caller's default)."""
    if not isinstance(value, str) or not 0 < len(value) <= MAX_ID_CHARS:
        return None
    return value if kafka_text(value) == value else None


def _fit_headers(headers: dict[str, Any]) -> tuple[dict[str, str | None], int]:
    """The headers that fit MAX_HEADERS_BYTES as JSON, in their order, and how many were dropped."""
    kept: dict[str, str | None] = {}
    used, dropped = 2, 0
    for key, value in headers.items():
        k, v = str(key), value if value is None else str(value)
        size = json_size(k) + json_size(v) + 4  # `"k": "v", `
        if used + size > MAX_HEADERS_BYTES:
            dropped += 1
            continue
        kept[k] = v
        used += size
    return kept, dropped


def _describe(error: BaseException) -> tuple[str, str]:
    """(message, traceback) of `error`; an exception that cannot even be printed still dead-letters."""
    try:
        message = str(error)
    except Exception as exc:  # noqa: BLE001 - a broken __str__ must not lose the record
        message = f"<unprintable {type(error).__name__}: {type(exc).__name__}>"
    try:
        tb = "".join(traceback.format_exception(error))
    except Exception:  # noqa: BLE001
        tb = ""
    return message, tb


def _original_json(record: SourceRecord) -> dict[str, Any]:
    try:
        obj = json.loads(record.value or b"")
        return obj if isinstance(obj, dict) else {}
    except (ValueError, UnicodeDecodeError, RecursionError):  # whatever the bytes are, the letter gets written
        return {}


def _text_head(value: bytes, room: int, chunk: int = 256 * 1024) -> str:
    """As much of `value`'s text (invalid UTF-8 escaped) as fills `room` bytes of JSON, decoded chunk by chunk:
    decoding invalid bytes takes ~0.1 s a MB, so none is decoded past what the letter keeps."""
    decoder = codecs.getincrementaldecoder("utf-8")(errors="backslashreplace")
    parts, size = [], 0
    for start in range(0, len(value), chunk):
        parts.append(decoder.decode(value[start:start + chunk]))
        size += json_size(parts[-1]) - 2
        if size > room:
            break
    else:
        parts.append(decoder.decode(b"", final=True))
    return "".join(parts)


def _fit_value(payload: dict[str, Any], value: bytes, budget: int) -> None:
    """Put the original value in `payload` within `budget` bytes of JSON: exact (plus its base64 when the
    bytes are not UTF-8) when it fits, else a prefix of its text with the original's size and sha256."""
    exact: dict[str, Any] | None = None
    if len(value) <= budget:  # else it cannot fit: every byte takes one or more in JSON
        try:
            exact = {"original_value": value.decode("utf-8")}
        except UnicodeDecodeError:
            if len(value) + 4 * -(-len(value) // 3) <= budget:  # the text and its base64 might fit
                exact = {"original_value": value.decode("utf-8", errors="backslashreplace"),
                         "original_value_base64": base64.b64encode(value).decode()}
    if exact is not None and sum(json_size(k) + json_size(v) + 4 for k, v in exact.items()) <= budget:
        payload.update(exact)
        return
    sha = hashlib.sha256(value).hexdigest()
    marks = {TRUNCATED_FLAG: True, ORIGINAL_VALUE_SIZE: len(value), ORIGINAL_VALUE_SHA256: sha}
    room = budget - json_size(marks) - json_size("original_value") - 4
    payload["original_value"] = fit_text(_text_head(value, room), room, original=value)
    payload.update(marks)


def dead_letter(record: SourceRecord, error: BaseException, source: str,
                tb: str | None = None, now: datetime | None = None, retryable: bool = False) -> ArgusEvent:
    """The DLQ event for a record that failed with `error` (the seed's `_send_to_dlq` payload).

    `retryable` tells the DLQ processor whether a retry can help; our jobs dead-letter only records that
    cannot parse or that a database refused (a retry fails the same way), so the default is False.
    Its JSON is at most MAX_DEAD_LETTER_BYTES: context over MAX_CONTEXT_BYTES / MAX_HEADERS_BYTES is cut,
    then a value over what is left (see _fit_value).
    """
    original = _original_json(record)
    # The event's own tenant first: a header is the producer's note beside the event (kept in original_headers),
    # and names the letter's tenant only for a value that is not an event. The correlation id is no boundary: the
    # header's (the gateway sets it from the event) is kept first, as the seed's DLQ did.
    tenant = _fit_id(original.get("tenant_id")) or _fit_id(record.headers.get("tenant_id"))
    correlation = _fit_id(record.headers.get("correlation_id")) or _fit_id(original.get("correlation_id"))
    retry_count = record.retry_count + 1
    value = record.value or b""
    message, traceback_text = _describe(error)
    headers, dropped = _fit_headers(record.headers)
    payload: dict[str, Any] = {
        "original_topic": fit_text(str(record.topic), MAX_CONTEXT_BYTES),
        "original_partition": record.partition,
        "original_offset": record.offset,
        "original_key": None if record.key is None else fit_text(str(record.key), MAX_CONTEXT_BYTES),
        "original_value": "",
        "error_type": type(error).__name__,
        "error_message": fit_text(message, MAX_CONTEXT_BYTES),
        "error_traceback": fit_text(tb if tb is not None else traceback_text, MAX_CONTEXT_BYTES),
        "original_headers": headers,
    }
    if dropped:
        payload[HEADERS_DROPPED] = dropped
    at = now or datetime.now(UTC)

    def letter() -> ArgusEvent:
        return ArgusEvent(
            event_id=dead_letter_id(record, retry_count),
            event_type=EventType.DLQ,
            timestamp=at,
            source=fit_text(source, MAX_CONTEXT_BYTES),
            tenant_id=tenant or UNKNOWN_TENANT,
            correlation_id=correlation or dead_letter_id(record, 0),
            payload=payload,
            metadata={"retry_count": retry_count, "max_retries": MAX_RETRIES, "failed_at": at.isoformat(),
                      "retryable": retryable},
        )

    budget = MAX_DEAD_LETTER_BYTES - len(letter().to_json())  # everything but the value, "" so far
    _fit_value(payload, value, budget)
    return letter()


def kafka_text(text: str) -> str:
    """`text` as Kafka's (UTF-8) coders take it: lone surrogates spelled out (`\\ud800`)."""
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        return text.encode("utf-8", errors="backslashreplace").decode("utf-8")


def dead_letter_key(record: SourceRecord) -> str | None:
    """The DLQ record's key: the original key, cut to MAX_CONTEXT_BYTES (its JSON size bounds its UTF-8)."""
    return None if record.key is None else kafka_text(fit_text(str(record.key), MAX_CONTEXT_BYTES))


def dead_letter_headers(record: SourceRecord, retry_count: int) -> dict[str, str | None]:
    """The DLQ record's headers: the original ones that fit MAX_HEADERS_BYTES (UTF-8), in their order, and
    always the retry count the DLQ processor reads back."""
    out: dict[str, str | None] = {}
    used = len(RETRY_COUNT_HEADER) + len(str(retry_count))
    for key, value in record.headers.items():
        k, v = kafka_text(str(key)), None if value is None else kafka_text(str(value))
        size = len(k.encode()) + (len(v.encode()) if v is not None else 0)
        if k == RETRY_COUNT_HEADER:
            out[k] = str(retry_count)  # where it was (counted above)
        elif used + size <= MAX_HEADERS_BYTES:
            out[k] = v
            used += size
    out.setdefault(RETRY_COUNT_HEADER, str(retry_count))
    return out


def parse_count(value: Any) -> int | None:
    """A count as letters and headers spell it (an int, an integral float, decimal text), else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value) if value.is_integer() else None  # also refuses inf and nan
    if isinstance(value, str) and len(value) <= 32:  # int() of long digit strings is quadratic
        try:
            return int(value)
        except ValueError:
            return None
    return None
