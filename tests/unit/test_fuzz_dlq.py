"""The DLQ path on hostile input: no letter, record or error can crash, stall or overflow it.

Property tests feed the plain functions the DLQ job's operators call (`argus_streams.dlq.job.decide`, `triage.triage`,
`triage.backoff_ms`, `dead_letters.dead_letter` and the DLQ record's key and headers, `review.row_from_event`) arbitrary
and adversarial values of every field a dead letter carries; each outcome must be a Retry with a bounded
delay to one of our topics, or a review row that fits its table. Then one regression test per crash loop.
"""

from __future__ import annotations

import hashlib
import json
import time
from contextlib import ExitStack
from datetime import UTC, datetime
from typing import Any
from unittest.mock import patch

import cloudpickle
import pytest
from argus_dev.samples import demo_stream
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from argus_streams.contract import dead_letters
from argus_streams.contract.events import ArgusEvent
from argus_streams.dlq import triage
from argus_streams.dlq.job import MAX_ERROR_TYPE_LABELS, OTHER_LABEL, decide, error_type_label
from argus_streams.dlq.review import COUNT, EARLIEST, INT4, INT8, LATEST, FailedEvent, merge, row_from_dead_letter
from argus_streams.flink import kit as flink_kit

PREFIX = "argus"
EVENT = demo_stream()[0]
MiB = 1024 * 1024
PER_EXAMPLE_S = 1.0  # process time one record may take, generously (the worst seen is ~0.1 s)
FUZZ = settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
SLOW_FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def source(value: bytes | None = None, topic: str = "argus.test.failed", partition: int | None = 2,
           key: str | None = "suite-1", **headers: str | None) -> dead_letters.SourceRecord:
    offset = 7 if partition is not None else None
    return dead_letters.SourceRecord(topic=topic, partition=partition, offset=offset, key=key,
                                     value=EVENT.to_bytes() if value is None else value,
                                     headers={"tenant_id": "acme", **headers})


def good_letter(retryable: bool = True) -> dict[str, Any]:
    """A retryable dead letter as our jobs write it, as a dict to corrupt."""
    letter = dead_letters.dead_letter(source(), TimeoutError("graph write timed out"), "test", retryable=retryable)
    return letter.to_dict()


def on_dlq(value: bytes) -> dead_letters.SourceRecord:
    """`value` as the DLQ job reads it from argus.dlq."""
    return dead_letters.SourceRecord(topic="argus.dlq", partition=0, offset=42, key=None, value=value, headers={})


def encode(letter: dict[str, Any]) -> bytes:
    return json.dumps(letter).encode()  # allow_nan: Infinity and NaN, which Python's json reads back


def corrupt(path: str, value: Any, retryable: bool = True) -> bytes:
    letter = good_letter(retryable)
    *parents, last = path.split(".")
    target = letter
    for part in parents:
        target = target[part]
    target[last] = value
    return encode(letter)


# --- What every outcome must satisfy -----------------------------------------------------------------------


def utf8_text(value: Any) -> bool:
    if not isinstance(value, str):
        return False
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def assert_retry_is_bounded(retry: triage.Retry) -> None:
    assert isinstance(retry.delay_ms, int) and 0 <= retry.delay_ms <= triage.MAX_BACKOFF_MS < 2 ** 63
    assert retry.topic in triage.republishable_topics(PREFIX)
    assert retry.key is None or utf8_text(retry.key)
    assert utf8_text(retry.value)
    assert all(utf8_text(k) and utf8_text(v) for k, v in retry.headers.items())
    size = len(retry.value.encode()) + len((retry.key or "").encode()) + sum(
        len(k.encode()) + len(v.encode()) for k, v in retry.headers.items())
    assert size <= triage.MAX_REPUBLISH_BYTES


def assert_row_fits_its_table(row: FailedEvent) -> None:
    for name in ("id", "dead_letter_id", "tenant_id", "source", "original_topic", "error_type", "error_message",
                 "error_traceback"):
        text = getattr(row, name)
        assert utf8_text(text) and "\x00" not in text, name
    for name in ("event_id", "original_key", "status_note"):
        text = getattr(row, name)
        assert text is None or (utf8_text(text) and "\x00" not in text), name
    assert all(utf8_text(k) and utf8_text(v) and "\x00" not in k + v for k, v in row.original_headers.items())
    assert isinstance(row.original_value, bytes)
    assert row.original_partition is None or INT4[0] <= row.original_partition <= INT4[1]
    assert row.original_offset is None or INT8[0] <= row.original_offset <= INT8[1]
    assert COUNT[0] <= row.retry_count <= COUNT[1] and COUNT[0] <= row.max_retries <= COUNT[1]
    for at in (row.first_failed_at, row.last_failed_at):
        assert at.tzinfo is not None and EARLIEST <= at < LATEST
    merge([row, row_from_dead_letter(dead_letters.dead_letter(source(), ValueError(), "test").to_json())])  # comparable


def assert_routed(record: dead_letters.SourceRecord) -> triage.Retry | FailedEvent:
    started = time.process_time()
    outcome = decide(record, PREFIX)  # raises nothing: an exception here fails the test
    assert time.process_time() - started < PER_EXAMPLE_S
    if isinstance(outcome, triage.Retry):
        assert_retry_is_bounded(outcome)
    else:
        assert isinstance(outcome, FailedEvent)
        assert_row_fits_its_table(outcome)
    # it crosses to the next operator pickled: a str subclass whose __new__ takes two arguments did not
    # unpickle there (the DLQ job failed on every reviewed invalid letter, found by test_hostile_records)
    assert cloudpickle.loads(cloudpickle.dumps(outcome)) == outcome
    return outcome


# --- Strategies --------------------------------------------------------------------------------------------

HUGE_INTS = st.sampled_from([-1, -(2 ** 31) - 1, 2 ** 31, 2 ** 53, 2 ** 63, 2 ** 64, 10 ** 30, -(10 ** 30), 54, 64,
                             1000, 10 ** 6, 10 ** 18])
NASTY_TEXT = st.sampled_from(["", "abc", "1e3", "9" * 5000, "-3", " 2 ", "0x10", "\x00", "\ud800", "\udfff x",
                              "Infinity", "NaN", "null", "[]", '"', "\\", "2.5", "١٢", "x" * 100_000])
TEXT = st.text(max_size=40) | NASTY_TEXT
# Long text, up to ~160 KB (past every context cap), built by repetition so that drawing it is cheap.
LONG_TEXT = st.builds(lambda s, n: s * n, st.text(max_size=8) | st.sampled_from(["\x00", "\ud800", '"', "\U0001f600"]),
                      st.integers(0, 20_000))
SCALARS = (st.none() | st.booleans() | st.integers() | HUGE_INTS | st.floats(allow_nan=True, allow_infinity=True)
           | TEXT)
JSON = st.recursive(SCALARS, lambda children: st.lists(children, max_size=4)
                    | st.dictionaries(st.text(max_size=8), children, max_size=4), max_leaves=12)
TOPICS = st.sampled_from(["argus.test.failed", "argus.dlq", "argus.nope", "other.test.failed", "", "argus.test.failed "]
                         ) | TEXT
TIMES = st.sampled_from(["2026-01-01T00:00:00", "2026-01-01T00:00:00+00:00", "0001-01-01T00:00:00+05:00",
                         "9999-12-31T23:59:59-05:00", "0001-01-01T00:00:00", "9999-12-31T23:59:59", "yesterday",
                         "1969-12-31T23:59:59Z"]) | JSON
FIELDS: dict[str, st.SearchStrategy[Any]] = {
    "metadata.retry_count": JSON, "metadata.max_retries": JSON, "metadata.retryable": JSON,
    "metadata.failed_at": TIMES, "metadata": JSON,
    "payload.error_type": st.sampled_from(["TimeoutError", "KeyError", "EventValidationError"]) | JSON,
    "payload.original_topic": TOPICS | JSON, "payload.original_partition": JSON, "payload.original_offset": JSON,
    "payload.original_key": JSON, "payload.original_value": JSON, "payload.original_value_base64": JSON,
    "payload.original_headers": JSON, "payload.original_value_truncated": JSON, "payload.error_message": JSON,
    "payload.error_traceback": JSON, "payload": JSON,
    "event_id": JSON, "timestamp": TIMES, "tenant_id": JSON, "source": JSON, "correlation_id": JSON,
    "event_type": st.sampled_from(["dlq", "test.failed", "nope"]) | JSON,
}

INNER = sorted(path for path in FIELDS if path.startswith(("payload.", "metadata.")))
ENVELOPE = sorted(set(FIELDS) - set(INNER))


@st.composite
def letters(draw: st.DrawFn) -> bytes:
    """A dead letter with up to four of its fields replaced by anything."""
    letter = good_letter(retryable=draw(st.booleans()))
    paths = draw(st.lists(st.sampled_from(INNER), min_size=1, max_size=4, unique=True))
    if draw(st.sampled_from([False, False, False, True])):  # a broken envelope: no dead letter (1 in 4)
        paths.append(draw(st.sampled_from(ENVELOPE)))
    for path in paths:
        *parents, last = path.split(".")
        target: Any = letter
        for part in parents:
            target = target.get(part) if isinstance(target, dict) else None
        if isinstance(target, dict):
            target[last] = draw(FIELDS[path])
    return encode(letter)


RAW_VALUES = st.binary(max_size=300) | st.sampled_from([
    b"", b"null", b"[]", b"{}", b"\xff\xfe", b"\x00" * 64, b'{"a":' * 50_000, b"1e999999", b'"\\ud800"',
    EVENT.to_bytes(), EVENT.to_bytes()[:-5], b"\xef\xbb\xbf" + EVENT.to_bytes(),
])


def hostile_bytes(unit: bytes, n: int) -> bytes:
    return (unit * (n // len(unit) + 1))[:n]


VALUES = RAW_VALUES | st.builds(hostile_bytes, st.sampled_from([b"\x00", b"\x1f\x01", b"\xff", b'"', b"\\", b"\xe9",
                                                                 b"\xf0\x9f\x98\x80", b"\xed\xa0\x80", b"a\xff\x00"]),
                                st.integers(0, 20_000))
HEADERS = st.dictionaries(TEXT, st.none() | TEXT, max_size=6)


class Unprintable(Exception):
    def __str__(self) -> str:
        raise RuntimeError("no")


ERRORS = st.builds(ValueError, TEXT) | st.builds(TimeoutError, TEXT) | st.builds(KeyError, JSON) \
    | st.just(Unprintable()) | st.builds(RuntimeError, LONG_TEXT)


@st.composite
def records(draw: st.DrawFn) -> dead_letters.SourceRecord:
    return dead_letters.SourceRecord(
        topic=draw(TOPICS), partition=draw(st.none() | st.integers(-(2 ** 31), 2 ** 31 - 1)),
        offset=draw(st.none() | st.integers(0, 2 ** 63 - 1)), key=draw(st.none() | TEXT | LONG_TEXT),
        value=draw(st.none() | VALUES),
        headers=draw(HEADERS | st.builds(lambda h, n: {**h, dead_letters.RETRY_COUNT_HEADER: n}, HEADERS,
                                         st.none() | JSON)),
    )


# --- Properties --------------------------------------------------------------------------------------------


@FUZZ
@given(letters())
def test_any_corrupted_letter_is_retried_within_bounds_or_reviewed(value: bytes) -> None:
    assert_routed(on_dlq(value))


@FUZZ
@given(VALUES)
def test_any_bytes_on_the_dlq_topic_are_reviewed_never_raised(value: bytes) -> None:
    assert isinstance(assert_routed(on_dlq(value)), FailedEvent)


@FUZZ
@given(JSON)
def test_any_json_on_the_dlq_topic_is_routed(value: Any) -> None:
    assert_routed(on_dlq(json.dumps(value).encode()))


def small_caps() -> ExitStack:
    """Caps small enough that Hypothesis' inputs cross them (the code reads the module's constants)."""
    stack = ExitStack()
    for name, cap in (("MAX_DEAD_LETTER_BYTES", 16_384), ("MAX_CONTEXT_BYTES", 1024), ("MAX_HEADERS_BYTES", 1024)):
        stack.enter_context(patch.object(dead_letters, name, cap))
    return stack


@SLOW_FUZZ
@given(records(), ERRORS, st.booleans(), st.booleans())
def test_any_record_and_error_make_a_dead_letter_under_the_cap_that_the_dlq_job_routes(
        record: dead_letters.SourceRecord, error: Exception, retryable: bool, small: bool) -> None:
    with small_caps() if small else ExitStack():
        started = time.process_time()
        event = dead_letters.dead_letter(record, error, "fuzz", retryable=retryable)
        letter = event.to_json()
        key = dead_letters.dead_letter_key(record)
        headers = dead_letters.dead_letter_headers(record, event.metadata["retry_count"])
        assert time.process_time() - started < PER_EXAMPLE_S
        assert letter.isascii() and len(letter) <= dead_letters.MAX_DEAD_LETTER_BYTES
        assert key is None or len(key.encode()) <= dead_letters.MAX_CONTEXT_BYTES
        assert sum(len(k.encode()) + len((v or "").encode()) for k, v in headers.items()) <= \
            dead_letters.MAX_HEADERS_BYTES + len(dead_letters.RETRY_COUNT_HEADER) + 10
        assert headers[dead_letters.RETRY_COUNT_HEADER] == str(event.metadata["retry_count"])
        assert 1 <= event.metadata["retry_count"] <= dead_letters.MAX_COUNT
        payload = event.payload
        if payload.get(dead_letters.TRUNCATED_FLAG):  # identifiable: the original's size and sha256
            sha = hashlib.sha256(record.value or b"").hexdigest()
            assert payload[dead_letters.ORIGINAL_VALUE_SIZE] == len(record.value or b"")
            assert payload[dead_letters.ORIGINAL_VALUE_SHA256] == sha
            assert payload["original_value"].endswith(dead_letters.truncation_marker(len(record.value or b""), sha))
        elif "original_value_base64" not in payload:
            assert payload["original_value"] == (record.value or b"").decode("utf-8")
    outcome = assert_routed(on_dlq(letter.encode()))  # and the DLQ job takes it as it is
    if not isinstance(outcome, triage.Retry):
        assert outcome.id == event.event_id  # a letter of ours is its own row, never "not a dead letter"


@FUZZ
@given(st.text() | NASTY_TEXT | LONG_TEXT, st.integers(200, 5000))
def test_fit_text_keeps_what_fits_and_cuts_the_rest_with_its_marker(text: str, max_bytes: int) -> None:
    fitted = dead_letters.fit_text(text, max_bytes)
    assert dead_letters.json_size(fitted) <= max_bytes
    if dead_letters.json_size(text) <= max_bytes:
        assert fitted == text
    else:
        raw = text.encode("utf-8", errors="surrogatepass")
        marker = dead_letters.truncation_marker(len(raw), hashlib.sha256(raw).hexdigest())
        assert fitted.endswith(marker) and text.startswith(fitted[: -len(marker)])


@FUZZ
@given(JSON | HUGE_INTS)
def test_backoff_is_bounded_for_any_count(count: Any) -> None:
    n = dead_letters.parse_count(count)
    if n is not None:
        started = time.process_time()
        assert 1000 <= triage.backoff_ms(n) <= triage.MAX_BACKOFF_MS
        assert time.process_time() - started < PER_EXAMPLE_S


# --- The worst cases, measured -----------------------------------------------------------------------------

WORST = {
    "3 MiB of control bytes (6x as JSON)": bytes(i % 32 for i in range(3 * MiB)),
    "3 MiB of invalid UTF-8 (5x + base64)": b"\xff" * (3 * MiB),
    "3 MiB of control bytes after one invalid byte (7.3x)": b"\xff" + b"\x01" * (3 * MiB),
    "7 MiB of quotes (2x)": b'"' * (7 * MiB),
    "16 MiB of NUL (the DLQ topic's largest record)": b"\x00" * (16 * MiB),
}


@pytest.mark.parametrize("kind", list(WORST))
def test_the_worst_values_stay_under_the_cap_and_identifiable(kind: str) -> None:
    value = WORST[kind]
    record = source(value, key="k" * (2 * MiB), **{f"h{i}": "v" * 1000 for i in range(2000)})
    error = ValueError("e" * (5 * MiB))
    started = time.process_time()
    row = flink_kit.dead_letter_row(record, error, PREFIX, "test")
    assert time.process_time() - started < 3.0
    letter, key, headers = row[2], row[1], row[3]
    total = len(letter.encode()) + len(key.encode()) + sum(len(k.encode()) + len(v.encode())
                                                           for k, v in headers.items())
    assert len(letter) <= dead_letters.MAX_DEAD_LETTER_BYTES and total < flink_kit.MAX_RECORD_BYTES - MiB
    payload = json.loads(letter)["payload"]
    assert payload[dead_letters.ORIGINAL_VALUE_SIZE] == len(value) and payload[dead_letters.TRUNCATED_FLAG] is True
    assert payload[dead_letters.ORIGINAL_VALUE_SHA256] == hashlib.sha256(value).hexdigest()
    marker = dead_letters.truncation_marker(len(value), hashlib.sha256(value).hexdigest())
    assert payload["original_value"].endswith(marker)
    assert "original_value_base64" not in payload  # no exact copy: the bytes did not fit
    marker = dead_letters.truncation_marker(5 * MiB, hashlib.sha256(b"e" * (5 * MiB)).hexdigest())
    assert payload["error_message"].endswith(marker)
    assert payload[dead_letters.HEADERS_DROPPED] > 0 and headers[dead_letters.RETRY_COUNT_HEADER] == "1"


def test_the_caps_leave_room_under_the_sink_and_topic_limits() -> None:
    from argus_streams.contract.topics import DLQ_MAX_MESSAGE_BYTES

    # value + key + headers
    worst = dead_letters.MAX_DEAD_LETTER_BYTES + dead_letters.MAX_CONTEXT_BYTES + dead_letters.MAX_HEADERS_BYTES + 64
    assert worst < flink_kit.MAX_RECORD_BYTES == DLQ_MAX_MESSAGE_BYTES
    assert triage.MAX_BACKOFF_MS == triage.backoff_ms(triage.MAX_RETRIES_LIMIT) < 2 ** 63


def test_a_capped_letter_keeps_the_sha256_and_size_and_its_review_row_says_so() -> None:
    value = b'{"event_id": "x", "message": "' + b"\x00" * (3 * MiB) + b'"}'
    letter = dead_letters.dead_letter(source(value), ValueError("too big"), "test")
    payload = letter.payload
    sha = hashlib.sha256(value).hexdigest()
    assert (payload[dead_letters.TRUNCATED_FLAG], payload[dead_letters.ORIGINAL_VALUE_SIZE],
            payload[dead_letters.ORIGINAL_VALUE_SHA256]) == (
        True, len(value), sha)
    assert payload["original_value"].startswith('{"event_id": "x", "message": "\x00')
    assert payload["original_value"].endswith(dead_letters.truncation_marker(len(value), sha))
    row = row_from_dead_letter(letter.to_json())
    assert row.status_note == f"original value truncated in the dead letter: {len(value)} bytes, sha256 {sha}"
    assert row.original_value.startswith(b'{"event_id": "x"')
    # Retrying a prefix would publish a record that never existed.
    retry = dead_letters.dead_letter(source(value), TimeoutError(), "test", retryable=True)
    assert triage.triage(retry) == "no original record to republish"


def test_valid_letters_are_unchanged_by_the_caps() -> None:
    letter = dead_letters.dead_letter(source(), TimeoutError("graph write timed out"), "test", retryable=True)
    payload = letter.payload
    assert payload["original_value"] == EVENT.to_json() and dead_letters.TRUNCATED_FLAG not in payload
    assert list(payload) == ["original_topic", "original_partition", "original_offset", "original_key",
                             "original_value", "error_type", "error_message", "error_traceback", "original_headers"]
    invalid = dead_letters.dead_letter(source(b"\xff" * 1000), ValueError(), "test").payload
    assert list(invalid)[-1] == "original_value_base64" and dead_letters.TRUNCATED_FLAG not in invalid


# --- One regression test per crash loop --------------------------------------------------------------------
# Each of these raised from the DLQ job's operators (a restart replays the record: a crash loop), stalled
# them, or produced a record the sink or the review store refuses on every attempt.


def triage_of(path: str, value: Any) -> triage.Retry | triage.Review:
    return triage.triage(ArgusEvent.from_json(corrupt(path, value)), PREFIX)


def review_of(path: str, value: Any, retryable: bool = True) -> FailedEvent:
    outcome = decide(on_dlq(corrupt(path, value, retryable)), PREFIX)
    assert isinstance(outcome, FailedEvent)
    assert_row_fits_its_table(outcome)
    return outcome


@pytest.mark.parametrize("value", ["abc", None, [1], {"n": 1}, "9" * 5000, float("inf"), float("nan"), True, 2.5])
def test_retry_count_that_is_no_count_is_reviewed_as_an_invalid_letter(value: Any) -> None:
    # Before: int("abc") ValueError, int(None) TypeError, int(inf) OverflowError from the Triage operator.
    decision = triage_of("metadata.retry_count", value)
    assert isinstance(decision, triage.Review) and decision.kind == triage.INVALID_LETTER
    assert decision.startswith("invalid dead letter: metadata.retry_count is not a count (0..2147483647)")
    assert review_of("metadata.retry_count", value).status_note == decision


@pytest.mark.parametrize("value", [-1, -(10 ** 30), 10 ** 30, 2 ** 31])
def test_retry_count_out_of_range_is_reviewed(value: int) -> None:
    decision = triage_of("metadata.retry_count", value)
    assert isinstance(decision, triage.Review) and decision.kind == triage.INVALID_LETTER
    row = review_of("metadata.retry_count", value)
    assert row.retry_count == min(max(value, 0), 2 ** 31 - 1)  # before: PostgreSQL integer overflow on upsert


def test_a_huge_max_retries_never_overflows_the_timer_or_stalls() -> None:
    # Before: retry_count 100 < max_retries 1000 -> delay 2^100 s, a timer beyond a Java long (the operator
    # fails on every restart); retry_count 10^9 -> 2^(10^9) computed in the operator (a stall).
    letter = good_letter()
    letter["metadata"].update(retry_count=100, max_retries=1000)
    assert triage.triage(ArgusEvent.from_dict(letter)) == "failed 100 times (max_retries=10)"
    letter["metadata"].update(retry_count=9, max_retries=2 ** 31 - 1)
    decision = triage.triage(ArgusEvent.from_dict(letter))
    assert isinstance(decision, triage.Retry) and decision.delay_ms == 512_000 <= triage.MAX_BACKOFF_MS
    started = time.process_time()
    assert triage.backoff_ms(10 ** 9) == triage.backoff_ms(10 ** 30) == triage.MAX_BACKOFF_MS
    assert triage.backoff_ms(-5) == 1000
    assert time.process_time() - started < 0.1


@pytest.mark.parametrize("value", ["abc", None, [3], -1, 10 ** 30])
def test_max_retries_that_is_no_count_is_reviewed(value: Any) -> None:
    decision = triage_of("metadata.max_retries", value)
    assert isinstance(decision, triage.Review) and decision.kind == triage.INVALID_LETTER
    assert "metadata.max_retries" in decision


@pytest.mark.parametrize("value", [["KeyError"], {"type": "KeyError"}, 5, None])
def test_error_type_that_is_not_text_is_reviewed(value: Any) -> None:
    # Before: a list or dict is unhashable: `in DATA_ERROR_TYPES` raised TypeError in Triage.
    decision = triage_of("payload.error_type", value)
    assert isinstance(decision, triage.Review) and decision.kind == triage.INVALID_LETTER
    assert decision.startswith("invalid dead letter: error_type is a ")


@pytest.mark.parametrize("value", [[1, 2], "a string", 5, True])
def test_headers_that_are_not_an_object_are_reviewed(value: Any) -> None:
    # Before: (headers or {}).items() raised AttributeError in Triage.
    decision = triage_of("payload.original_headers", value)
    assert decision == f"invalid dead letter: original_headers is a {type(value).__name__}, not an object"
    assert isinstance(decision, triage.Review) and decision.kind == triage.INVALID_LETTER


@pytest.mark.parametrize("topic", ["argus.nope", "other.test.failed", "argus.dlq", "", "argus.test.failed\x00"])
def test_a_topic_that_is_not_ours_is_unroutable_never_republished(topic: str) -> None:
    # Before: a Retry to it; the transactional sink fails on a topic that does not exist (and the timer
    # fires again after every restart), and a letter to argus.dlq would come straight back.
    decision = triage_of("payload.original_topic", topic)
    assert decision == f"unroutable: original_topic {topic!r} is not a topic of prefix 'argus'"
    assert isinstance(decision, triage.Review) and decision.kind == triage.UNROUTABLE
    row = review_of("payload.original_topic", topic)
    assert row.status_note == decision.replace("\x00", "\\x00") and row.original_topic == topic.replace("\x00", "\\x00")


def test_our_topics_of_another_prefix_are_unroutable_too() -> None:
    letter = ArgusEvent.from_json(encode(good_letter()))
    assert isinstance(triage.triage(letter, "argus"), triage.Retry)
    assert triage.triage(letter, "staging").kind == triage.UNROUTABLE  # type: ignore[union-attr]


@pytest.mark.parametrize("path, value, kind", [
    ("payload.original_topic", 5, triage.UNROUTABLE),
    ("payload.original_key", 5, triage.INVALID_LETTER),  # before: an int in a STRING field of the sink's row
    ("payload.original_key", {"k": 1}, triage.INVALID_LETTER),
    ("payload.original_value", 5, triage.NOT_REPUBLISHABLE),
    ("payload.original_value", None, triage.NOT_REPUBLISHABLE),
    ("payload.original_value", "lone \ud800 surrogate", triage.NOT_REPUBLISHABLE),  # before: UTF-8 coder error
    ("payload.original_key", "\udc80", triage.NOT_REPUBLISHABLE),
    ("payload.original_headers", {"h": "\ud800"}, triage.NOT_REPUBLISHABLE),
    ("payload.original_value", "x" * (triage.MAX_REPUBLISH_BYTES + 1), triage.TOO_LARGE),  # before: broker refuses it
    ("payload.original_value_truncated", True, triage.NOT_REPUBLISHABLE),
])
def test_a_record_the_sink_cannot_write_is_reviewed(path: str, value: Any, kind: str) -> None:
    decision = triage_of(path, value)
    assert isinstance(decision, triage.Review) and decision.kind == kind, decision
    row = review_of(path, value)
    assert row.status_note is not None or kind in triage.SEED_KINDS


def test_a_missing_original_value_is_reviewed() -> None:
    letter = good_letter()
    del letter["payload"]["original_value"]  # before: KeyError in triage
    assert triage.triage(ArgusEvent.from_dict(letter)) == "no original record to republish"


@pytest.mark.parametrize("path, value", [
    ("payload.original_partition", 10 ** 30), ("payload.original_partition", 2 ** 31),
    ("payload.original_offset", 2 ** 63), ("payload.original_offset", float("inf")),
    ("payload.original_partition", "9" * 5000),
])
def test_positions_out_of_column_range_are_null_in_the_row(path: str, value: Any) -> None:
    # Before: 10**30 went to an integer column, the batch's upsert failed, ReviewWrite failed the job.
    row = review_of(path, value, retryable=False)
    assert (row.original_partition if "partition" in path else row.original_offset) is None


@pytest.mark.parametrize("failed_at", ["0001-01-01T00:00:00+05:00", "9999-12-31T23:59:59-05:00", "yesterday", 5, None,
                                       "1900-01-01T00:00:00"])
def test_garbage_failure_times_fall_back_to_the_letters_time(failed_at: Any) -> None:
    # Before: year 1 at +05:00 is year 0 in UTC: PostgreSQL stores it, psycopg2 cannot read it back (the
    # alert step then fails on every batch); a naive time next to an aware one broke merge().
    letter = good_letter(retryable=False)
    letter["metadata"]["failed_at"] = failed_at
    letter["timestamp"] = "2026-03-04T05:06:07"  # naive: UTC
    row = review_of_letter(letter)
    assert row.last_failed_at == datetime(2026, 3, 4, 5, 6, 7, tzinfo=UTC)


def review_of_letter(letter: dict[str, Any]) -> FailedEvent:
    outcome = decide(on_dlq(encode(letter)), PREFIX)
    assert isinstance(outcome, FailedEvent)
    assert_row_fits_its_table(outcome)
    return outcome


@pytest.mark.parametrize("value, error_type", [
    (b"not json", "EventValidationError"), (b"\xff\xfe\x00", "EventValidationError"),
    (b"[1, 2]", "EventValidationError"),
    (EVENT.to_bytes(), "EventValidationError"),  # an event, but not a dead letter
    (corrupt("timestamp", "0001-01-01T00:00:00+05:00"), "EventValidationError"),  # year 0 in UTC
    (corrupt("event_id", "not-a-uuid"), "EventValidationError"),
    (corrupt("payload", {"error_type": "X"}), "EventValidationError"),
    (b'{"a":' * 100_000 + b"1" + b"}" * 100_000, "EventValidationError"),
])
def test_what_is_no_dead_letter_is_reviewed_as_a_dead_letter_of_the_dlq_record(value: bytes, error_type: str) -> None:
    row = decide(on_dlq(value), PREFIX)
    assert isinstance(row, FailedEvent)
    assert_row_fits_its_table(row)
    assert (row.error_type, row.original_topic, row.original_offset) == (error_type, "argus.dlq", 42)
    assert row.original_value == value and row.status_note == "not a dead letter"


def test_lone_surrogates_in_a_letter_are_spelled_out_in_its_row() -> None:
    letter = good_letter(retryable=False)
    letter["payload"].update(error_type="E\ud800", error_message="m\ud800", original_key="k\ud800",
                             original_headers={"h\ud800": "v\ud800"}, original_value="v\ud800",
                             original_topic="t\udfff")
    row = review_of_letter(letter)  # before: psycopg2 could not encode them: the batch failed
    assert (row.error_type, row.error_message, row.original_key, row.original_topic) == (
        "E\\ud800", "m\\ud800", "k\\ud800", "t\\udfff")
    assert row.original_headers == {"h\\ud800": "v\\ud800"} and row.original_value == b"v\\ud800"
    # In the envelope, pydantic refuses them: no dead letter, so the DLQ record itself is reviewed.
    # Before: dead_letter() copied the tenant id into a new envelope, and that raised too.
    letter = good_letter(retryable=False)
    letter.update(tenant_id="t\ud800", source="s\udfff")
    row = review_of_letter(letter)
    assert (row.tenant_id, row.error_type, row.status_note) == (dead_letters.UNKNOWN_TENANT, "EventValidationError",
                                                                "not a dead letter")
    record = source(json.dumps({"tenant_id": "t\ud800", "correlation_id": "c\udfff"}).encode(), tenant_id=None)
    # every job's DLQ path
    assert dead_letters.dead_letter(record, ValueError(), "test").tenant_id == dead_letters.UNKNOWN_TENANT


@pytest.mark.parametrize("header", [None, "abc", "-4", "9" * 5000, " 2 "])
def test_a_retry_count_header_that_is_no_count_still_dead_letters(header: str | None) -> None:
    # Before: a null header value (Kafka allows it) raised TypeError in every job's dead-letter path.
    letter = dead_letters.dead_letter(source(**{dead_letters.RETRY_COUNT_HEADER: header}), ValueError(), "test")
    assert letter.metadata["retry_count"] == (3 if header == " 2 " else 1)
    huge = dead_letters.dead_letter(source(**{dead_letters.RETRY_COUNT_HEADER: str(10 ** 30)}), ValueError(), "test")
    assert huge.metadata["retry_count"] == dead_letters.MAX_COUNT


def test_ids_too_long_to_be_ids_fall_back_to_the_defaults() -> None:
    value = json.dumps({"tenant_id": "t" * 10 * MiB, "correlation_id": ["x"]}).encode()
    letter = dead_letters.dead_letter(source(value, tenant_id=None), ValueError(), "test")
    assert letter.tenant_id == dead_letters.UNKNOWN_TENANT
    assert letter.correlation_id == dead_letters.dead_letter_id(source(value), 0)


def test_an_exception_that_cannot_be_printed_still_dead_letters() -> None:
    letter = dead_letters.dead_letter(source(), Unprintable(), "test")
    assert letter.payload["error_message"] == "<unprintable Unprintable: RuntimeError>"


def test_error_type_metric_labels_are_bounded() -> None:
    seen: set[str] = set()
    assert error_type_label("KeyError", seen) == "KeyError"
    assert error_type_label("redis.exceptions.ResponseError", seen) == "redis.exceptions.ResponseError"
    assert error_type_label("['KeyError']", seen) == error_type_label("x" * 200, seen) == OTHER_LABEL
    labels = {error_type_label(f"Error{n}", seen) for n in range(1000)}
    assert len(seen) == MAX_ERROR_TYPE_LABELS and OTHER_LABEL in labels
    assert error_type_label("KeyError", seen) == "KeyError"  # one seen before stays itself
