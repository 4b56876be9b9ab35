"""The DLQ processor's decisions, without Flink: `triage` gives a dead letter its fate, a Retry with a bounded
delay or a Review reason, and never raises (a dead letter is data like any other record)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from argus_streams.contract.dead_letters import (
    MAX_COUNT,
    MAX_RETRIES,
    RETRY_COUNT_HEADER,
    TRUNCATED_FLAG,
    parse_count,
)
from argus_streams.contract.events import DEFAULT_TOPIC_PREFIX, PRODUCED, ArgusEvent, topic_for

# Errors that say the record itself is wrong: retrying it can only fail the same way, so it goes straight to
# manual review. Everything else (timeouts, unavailable services, unknown errors) is retried with backoff.
DATA_ERROR_TYPES = frozenset({
    "EventValidationError", "UnexpectedEventType", "ValidationError", "JSONDecodeError", "UnicodeDecodeError",
    "ValueError", "TypeError", "KeyError", "ConstraintError", "CypherSyntaxError", "CypherTypeError",
    "ResponseError",  # FalkorDB refusing a query: the row is bad (transient redis errors are ConnectionError)
})
BACKOFF_BASE_S = 2
# A letter's numbers are never trusted: its max_retries is capped here, and no delay exceeds MAX_BACKOFF_MS
# (2^n s reaches it at n = 10), so a timer is never further away than that (a Flink timer is a Java long:
# 2^n * 1000 overflows it from n = 54, and computing 2^n for a huge n stalls the operator).
MAX_RETRIES_LIMIT = 10
MAX_BACKOFF_MS: int = 2 ** MAX_RETRIES_LIMIT * 1000
# A republished record goes to a topic with the broker's default limit (1 MiB, what the gateway produces).
# A bigger one would be refused by the broker, failing the transactional sink on every restart.
MAX_REPUBLISH_BYTES = 1024 * 1024

# Why a dead letter goes to review (Review.kind): the first three are the seed's, the rest are letters
# that are not what our jobs write (the DLQ topic is an input like any other).
DATA_ERROR, EXHAUSTED, NOT_REPUBLISHABLE = "data_error", "exhausted", "not_republishable"
INVALID_LETTER, UNROUTABLE, TOO_LARGE = "invalid_letter", "unroutable", "too_large"
SEED_KINDS = frozenset({DATA_ERROR, EXHAUSTED, NOT_REPUBLISHABLE})


class Review(str):
    """The reason a dead letter goes to manual review (a str, as triage always returned), with its `kind`."""

    kind: str

    def __new__(cls, kind: str, reason: str) -> Review:
        self = super().__new__(cls, reason)
        self.kind = kind
        return self

    def __getnewargs__(self) -> tuple[str, str]:  # type: ignore[override]
        # pickled between operators: str's own (text,) would call __new__ without the kind
        return self.kind, str(self)


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
    """The seed's backoff: 2^retry_count seconds (2 s, 4 s, 8 s ... after the 1st, 2nd, 3rd failure),
    at most MAX_BACKOFF_MS whatever the count."""
    return min(int(BACKOFF_BASE_S ** min(max(0, retry_count), MAX_RETRIES_LIMIT)) * 1000, MAX_BACKOFF_MS)


def republishable_topics(prefix: str = DEFAULT_TOPIC_PREFIX) -> frozenset[str]:
    """The topics a retry may go to: those Argus's services publish, under `prefix`. Never a job's own output
    (codebase.analyzed, healing.completed: only its job writes it) nor the DLQ itself."""
    return frozenset(topic_for(t, prefix) for t in PRODUCED)


def _shown(value: Any, limit: int = 120) -> str:
    text = repr(value) if isinstance(value, str) else f"a {type(value).__name__}"
    return text if len(text) <= limit else text[:limit] + "..."


def _utf8_size(text: str) -> int | None:
    """UTF-8 bytes of `text`, or None when it holds lone surrogates (JSON allows them, Kafka's coders do not)."""
    try:
        return len(text.encode("utf-8"))
    except UnicodeEncodeError:
        return None


def _counts(metadata: dict[str, Any]) -> tuple[int, int] | Review:
    retry_count = parse_count(metadata.get("retry_count", 1))
    max_retries = parse_count(metadata.get("max_retries", MAX_RETRIES))
    for name, count in (("retry_count", retry_count), ("max_retries", max_retries)):
        if count is None or not 0 <= count <= MAX_COUNT:
            return Review(INVALID_LETTER, f"invalid dead letter: metadata.{name} is not a count "
                                          f"(0..{MAX_COUNT}): {_shown(metadata.get(name))}")
    assert retry_count is not None and max_retries is not None
    return retry_count, min(max_retries, MAX_RETRIES_LIMIT)


def _republished(letter: ArgusEvent, retry_count: int, prefix: str) -> Retry | Review:
    """The record to republish, if the letter names one that our sink can write and the broker takes."""
    payload = letter.payload
    topic, key, value = payload.get("original_topic"), payload.get("original_key"), payload.get("original_value")
    headers = payload.get("original_headers")
    if payload.get("original_partition") is None or payload.get("original_value_base64") \
            or payload.get(TRUNCATED_FLAG) or not isinstance(value, str):
        return Review(NOT_REPUBLISHABLE, "no original record to republish")  # a refused graph row, or not text
    if not isinstance(topic, str) or topic not in republishable_topics(prefix):
        return Review(UNROUTABLE, f"unroutable: original_topic {_shown(topic)} is not a topic of "
                                  f"prefix {prefix!r}")
    if key is not None and not isinstance(key, str):
        return Review(INVALID_LETTER, f"invalid dead letter: original_key is a {type(key).__name__}, not text")
    if headers is not None and not isinstance(headers, dict):
        return Review(INVALID_LETTER, f"invalid dead letter: original_headers is a {type(headers).__name__}, "
                                      "not an object")
    out = {str(k): str(v) for k, v in (headers or {}).items()}
    out[RETRY_COUNT_HEADER] = str(retry_count)
    sizes = [_utf8_size(text) for text in (value, key or "", *out, *out.values())]
    if any(size is None for size in sizes):
        return Review(NOT_REPUBLISHABLE, "original record is not valid UTF-8 text (lone surrogates)")
    size = sum(s for s in sizes if s is not None)
    if size > MAX_REPUBLISH_BYTES:
        return Review(TOO_LARGE, f"original record too large to republish ({size} > {MAX_REPUBLISH_BYTES} bytes)")
    return Retry(letter_id=letter.event_id, delay_ms=backoff_ms(retry_count), topic=topic, key=key, value=value,
                 headers=out)


def triage(letter: ArgusEvent, prefix: str = DEFAULT_TOPIC_PREFIX) -> Retry | Review:
    """A dead letter's fate: a Retry (delay at most MAX_BACKOFF_MS, to one of `prefix`'s topics), or the
    Review reason it goes to manual review instead. Never raises, whatever the letter holds."""
    payload, metadata = letter.payload, letter.metadata
    error_type = payload.get("error_type")
    if not isinstance(error_type, str):
        return Review(INVALID_LETTER, f"invalid dead letter: error_type is {_shown(error_type)}, not text")
    counts = _counts(metadata)
    if isinstance(counts, Review):
        return counts
    retry_count, max_retries = counts
    retryable = metadata.get("retryable")  # set by our jobs; the seed's services leave it out
    if retryable is False or (not isinstance(retryable, bool) and error_type in DATA_ERROR_TYPES):
        shown = error_type if len(error_type) <= 120 else error_type[:120] + "..."
        return Review(DATA_ERROR, f"data error ({shown}): a retry cannot fix it")
    if retry_count >= max_retries:
        return Review(EXHAUSTED, f"failed {retry_count} times (max_retries={max_retries})")
    return _republished(letter, retry_count, prefix)
