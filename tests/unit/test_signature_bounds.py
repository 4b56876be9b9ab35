"""Signatures on hostile input: the work is bounded, and within the bounds nothing changed.

The oracle is the normalisation as it was before the bounds (copied below, uncapped and unguarded): any
first line up to MAX_SCAN_CHARS must get the very same text, so no stored signature splits.
"""

from __future__ import annotations

import re
import time

from hypothesis import given, settings
from hypothesis import strategies as st

from argus_streams.failures.signature import (
    MAX_MESSAGE_CHARS,
    MAX_SCAN_CHARS,
    MAX_TRACE_CHARS,
    normalise_message,
    stack_frames,
)

_REFERENCE_MASKS = [
    (re.compile(r"(https?://[^\s'\"?#)]+)\?[^\s'\")]*"), r"\1?<q>"),
    (re.compile(r"(?:/tmp|/var/folders|/private/var|/var/tmp)/[^\s'\":)]+|[A-Za-z]:\\[^\s'\"]*\\Temp\\[^\s'\"]+"),
     "<tmp>"),
    (re.compile(r"\b[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\b"), "<uuid>"),
    (re.compile(r"\b\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?"), "<ts>"),
    (re.compile(r"\b\d{1,2}:\d{2}:\d{2}(?:\.\d+)?\b"), "<ts>"),
    (re.compile(r"\b0x[0-9a-fA-F]+\b"), "<hex>"),
    (re.compile(r"\b(?=[0-9a-fA-F]*\d)(?=[0-9a-fA-F]*[a-fA-F])[0-9a-fA-F]{8,}\b"), "<hex>"),
    (re.compile(r"'[^'\n]*\d[^'\n]*'|\"[^\"\n]*\d[^\"\n]*\"|`[^`\n]*\d[^`\n]*`"), "<str>"),
    (re.compile(r"\d+(?:\.\d+)?"), "<n>"),
]


def reference(message: str) -> str:
    text = message.strip().splitlines()[0] if message.strip() else ""
    for pattern, replacement in _REFERENCE_MASKS:
        text = pattern.sub(replacement, text)
    return re.sub(r"\s+", " ", text).strip()[:MAX_MESSAGE_CHARS]


# Pieces every mask and every guard reacts to, so random messages exercise each rule and their overlaps.
_PIECES = st.sampled_from([
    "a", "B", "0", "9", " ", "'", '"', "`", ":", "-", "/", "\\", "?", "#", ")", "x", "\n", "\r", "\t", ".",
    "\u2028", "\x85", "\x0c", "http://", "https://h.io/p", "/tmp/", "/var/folders/x", "C:\\", "\\Temp\\", "0x",
    "2026-12-01T10:11:12Z", "10:11:12.5", "deadbeef12", "8c1f6a4e-2b9d-4f0e-9a7c-3d5e6f708192", "  ",
])
MESSAGES = st.lists(_PIECES, max_size=120).map("".join) | st.text(max_size=400)


@settings(max_examples=3000, deadline=None)
@given(MESSAGES)
def test_within_the_bounds_every_message_normalises_as_before(message: str) -> None:
    assert normalise_message(message) == reference(message)


def test_a_long_first_line_is_masked_on_its_first_max_scan_chars_only() -> None:
    line = "Timeout 5000ms waiting for " + "x" * (MAX_SCAN_CHARS * 3) + " 42"
    assert normalise_message(line) == reference(line[:MAX_SCAN_CHARS])
    assert normalise_message("\n\n  " + line + "\nsecond line 7") == reference(line[:MAX_SCAN_CHARS])


# Each of these took seconds to minutes before the bounds (quadratic backtracking on 140 KB).
BOMBS = {
    "repeated http:// before a ?": "?" + "http://" * 20_000,
    "an unclosed quoted run of digits": "?://" + '"' + "1" * 140_000,
    "repeated Windows drive prefixes": "\\Temp\\ " + "C:\\" * 47_000,
    "digits and hex letters": "a1" * 70_000,
    "a 1 MB line of spaces and digits": " 1" * 500_000,
}


def test_hostile_messages_are_masked_in_bounded_time_with_the_expected_text() -> None:
    for name, message in BOMBS.items():
        started = time.process_time()
        text = normalise_message(message)
        elapsed = time.process_time() - started
        assert elapsed < 0.1, f"{name}: {elapsed:.3f}s of CPU"
        assert text == reference(message[:MAX_SCAN_CHARS]), name
        assert len(text) <= MAX_MESSAGE_CHARS


def test_the_quoted_digits_bomb_gives_the_unquoted_mask() -> None:
    # no closing quote: the quote stays, the digits become one number
    assert normalise_message('"' + "1" * 140_000) == '"<n>'


def test_python_frames_come_from_the_tail_of_a_huge_trace_and_js_frames_from_its_head() -> None:
    noise = "x" * (MAX_TRACE_CHARS * 2) + "\n"
    python = noise + '  File "/app/tests/test_pay.py", line 3, in test_pay\n'
    assert stack_frames(python) == ("tests/test_pay:test_pay",)
    js = "    at LoginPage.submit (/app/tests/pages/login.page.ts:1:17)\n" + noise
    assert stack_frames(js) == ("pages/login:LoginPage.submit",)
    started = time.process_time()
    stack_frames("  at " * 400_000)
    assert time.process_time() - started < 0.5
