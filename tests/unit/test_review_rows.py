"""Review rows built from real `dead_letters.dead_letter` output (no database)."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta

import pytest
from argus_dev.samples import demo_stream

from argus_streams.contract import dead_letters
from argus_streams.contract.events import ArgusEvent
from argus_streams.dlq.review import ReviewFilter, merge, row_from_dead_letter
from argus_streams.errors import EventValidationError

NOW = datetime(2026, 3, 4, 5, 6, 7, tzinfo=UTC)


def record(value: bytes | None, offset: int | None = 17, **headers: str) -> dead_letters.SourceRecord:
    partition = 4 if offset is not None else None
    return dead_letters.SourceRecord(topic="argus.test.failed", partition=partition, offset=offset,
                                     key="suite-9", value=value, headers={"tenant_id": "acme", **headers})


def letter(source: dead_letters.SourceRecord, error: Exception | None = None, now: datetime = NOW) -> bytes:
    return dead_letters.dead_letter(source, error or ValueError("boom"), "argus-flink-failures", now=now).to_bytes()


def test_a_valid_event_keeps_its_ids_key_value_headers_and_error() -> None:
    event = next(e for e in demo_stream() if e.event_type == "test.failed")
    source = record(event.to_bytes(), correlation_id=event.correlation_id)
    value = letter(source, KeyError("payload.failure_details"))
    row = row_from_dead_letter(value)
    expected_id = dead_letters.dead_letter_id(source, 1)
    assert row.id == row.dead_letter_id == ArgusEvent.from_json(value).event_id == expected_id
    assert row.event_id == event.event_id
    assert (row.tenant_id, row.source) == ("acme", "argus-flink-failures")
    assert (row.original_topic, row.original_partition, row.original_offset) == ("argus.test.failed", 4, 17)
    assert row.original_key == "suite-9" and row.original_value == event.to_bytes()
    assert row.original_headers == {"tenant_id": "acme", "correlation_id": event.correlation_id}
    assert row.error_type == "KeyError" and "payload.failure_details" in row.error_message
    assert "KeyError" in row.error_traceback
    assert (row.retry_count, row.max_retries, row.status) == (1, dead_letters.MAX_RETRIES, "pending")
    assert row.first_failed_at == row.last_failed_at == NOW


def test_invalid_utf8_is_kept_byte_for_byte() -> None:
    raw = b'{"event_id": "\xff\xfe", "tenant_id": "acme"}\x80'
    row = row_from_dead_letter(letter(record(raw)))
    assert row.original_value == raw
    assert row.event_id is None
    shown = row.to_json_dict()
    assert base64.b64decode(shown["original_value_base64"]) == raw
    assert "\\xff\\xfe" in shown["original_value"]  # readable, and visibly not the original text
    json.dumps(shown)  # JSON-ready as it is


@pytest.mark.parametrize("raw", [b"not json at all", b"[1, 2, 3]", b"", b'{"event_id": 42}'])
def test_a_value_that_is_not_an_event_is_kept_without_an_event_id(raw: bytes) -> None:
    row = row_from_dead_letter(letter(record(raw)))
    assert row.original_value == raw and row.event_id is None


def test_a_missing_value_becomes_empty_bytes() -> None:
    assert row_from_dead_letter(letter(record(None))).original_value == b""


def test_retry_count_follows_the_header_the_processor_sets() -> None:
    row = row_from_dead_letter(letter(record(b"x", **{dead_letters.RETRY_COUNT_HEADER: "2"})))
    assert row.retry_count == 3
    assert row.original_headers[dead_letters.RETRY_COUNT_HEADER] == "2"  # a replay sends the headers it had


def test_a_regenerated_dead_letter_is_the_same_row() -> None:
    source = record(b"x")
    first = row_from_dead_letter(letter(source, now=NOW))
    again = row_from_dead_letter(letter(source, RuntimeError("later"), now=NOW + timedelta(minutes=5)))
    assert first.id == again.id
    (merged,) = merge([again, first, first])
    assert merged.first_failed_at == NOW and merged.last_failed_at == NOW + timedelta(minutes=5)
    assert merged.error_type == "RuntimeError"  # the latest failure's error


def test_dead_letters_without_a_position_get_an_id_from_their_content() -> None:
    # Graph writes the databases refused: no Kafka position, so dead_letters.dead_letter_id hashes the content.
    a, b = (row_from_dead_letter(letter(record(value, offset=None))) for value in (b'{"row": 1}', b'{"row": 2}'))
    assert a.id == a.dead_letter_id and b.id == b.dead_letter_id
    assert a.id != b.id
    assert a.id == row_from_dead_letter(letter(record(b'{"row": 1}', offset=None), now=NOW + timedelta(1))).id
    assert (a.original_partition, a.original_offset) == (None, None)


def test_failed_at_without_a_zone_is_utc() -> None:
    event = ArgusEvent.from_json(letter(record(b"x")))
    naive = event.model_copy(update={"metadata": {**event.metadata, "failed_at": "2026-03-04T05:06:07"}})
    assert row_from_dead_letter(naive.to_json()).last_failed_at == NOW.replace(microsecond=0)


@pytest.mark.parametrize("value", [b"\xff", b"{}", b"[]", next(iter(demo_stream())).to_bytes()])
def test_what_is_not_a_dead_letter_is_refused(value: bytes) -> None:
    with pytest.raises(EventValidationError):
        row_from_dead_letter(value)


def test_a_dead_letter_without_its_payload_fields_is_refused() -> None:
    event = ArgusEvent.from_json(letter(record(b"x")))
    broken = event.model_copy(update={"payload": {"error_type": "X"}})
    with pytest.raises(EventValidationError, match="payload"):
        row_from_dead_letter(broken.to_json())


def test_filters_bind_every_value_as_a_parameter() -> None:
    since = NOW - timedelta(hours=1)
    where = ReviewFilter(tenant="acme'; DROP TABLE failed_events; --", topic="t", since=since, statuses=("pending",))
    _, params = where.where()
    assert params == [["pending"], "acme'; DROP TABLE failed_events; --", "t", since]
    assert ReviewFilter().is_empty() and not where.is_empty()


def test_nul_characters_in_key_headers_and_message_are_spelled_out_but_the_value_is_exact() -> None:
    # PostgreSQL text and jsonb refuse NUL; a Kafka key or header may hold one.
    source = dead_letters.SourceRecord(topic="argus.test.failed", partition=1, offset=2, key="k\x00ey",
                                       value=b"\x00\x00raw", headers={"tenant_id": "acme", "trace\x00": "a\x00b"})
    row = row_from_dead_letter(letter(source, ValueError("bad \x00 byte")))
    texts = [row.original_key, row.error_message, row.error_traceback,
             *row.original_headers, *row.original_headers.values()]
    assert not any("\x00" in text for text in texts)
    assert row.original_key == "k\\x00ey" and row.original_headers["trace\\x00"] == "a\\x00b"
    assert row.original_value == b"\x00\x00raw"
