"""Failure signatures: the same root cause under different ids, times and line numbers gets one id.

signature = exception type + message with volatile parts masked + the innermost N stack frames as
module/function (no line numbers) + the failing selector. Pure and versioned: a change to the rules
must bump `SIGNATURE_VERSION`, because stored signatures are compared across time.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

SIGNATURE_VERSION = "v1"
DEFAULT_FRAMES = 5
MAX_MESSAGE_CHARS = 500
# Work per record is bounded before any regex runs. Masks only see the message's first line up to
# MAX_SCAN_CHARS (4x what is kept, so masking can shrink it and still fill MAX_MESSAGE_CHARS); frames
# come from at most MAX_TRACE_CHARS of the stack trace, its head for JS/Java (innermost first) and its
# tail for Python (innermost last). Messages and traces within these sizes get the signatures they always
# had; beyond them the old code's masks were quadratic (a 140 KB line took 8.9 s).
MAX_SCAN_CHARS = 2_000
MAX_TRACE_CHARS = 64_000

# Order matters: wider patterns (URLs, paths, UUIDs, timestamps) go before the generic number rule.
_MASKS: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"(https?://[^\s'\"?#)]+)\?[^\s'\")]*"), r"\1?<q>"),
    (re.compile(r"(?:/tmp|/var/folders|/private/var|/var/tmp)/[^\s'\":)]+|[A-Za-z]:\\[^\s'\"]*\\Temp\\[^\s'\"]+"),
     "<tmp>"),
    (re.compile(r"\b[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\b"), "<uuid>"),
    (re.compile(r"\b\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?"), "<ts>"),
    (re.compile(r"\b\d{1,2}:\d{2}:\d{2}(?:\.\d+)?\b"), "<ts>"),
    (re.compile(r"\b0x[0-9a-fA-F]+\b"), "<hex>"),
    (re.compile(r"\b(?=[0-9a-fA-F]*\d)(?=[0-9a-fA-F]*[a-fA-F])[0-9a-fA-F]{8,}\b"), "<hex>"),
    # the first run stops at the first digit (it cannot hold one), so a failed match backtracks once, not
    # over every split point: the same matches as '[^'\n]*\d[^'\n]*', in linear time
    (re.compile(r"'[^'\n\d]*\d[^'\n]*'|\"[^\"\n\d]*\d[^\"\n]*\"|`[^`\n\d]*\d[^`\n]*`"), "<str>"),
    (re.compile(r"\d+(?:\.\d+)?"), "<n>"),
]
_WHITESPACE = re.compile(r"\s+")
_LINE_BREAK = re.compile("[\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029]")  # what str.splitlines splits on
_DIGIT = re.compile(r"\d")


def _could_match(index: int, text: str) -> bool:
    """A cheap necessary condition for _MASKS[index] to match: most messages skip most masks."""
    if index == 0:
        return "://" in text and "?" in text
    if index == 1:
        return "/tmp" in text or "/var" in text or "\\Temp\\" in text
    if index in (2, 3):
        return "-" in text
    if index == 4:
        return ":" in text
    if index == 5:
        return "0x" in text
    return _DIGIT.search(text) is not None  # <hex> needs a digit, <str> and <n> too

# Frame formats: Python tracebacks, JavaScript (V8/Node/Jest/Cypress/Playwright) and Java stacks.
_PY_FRAME = re.compile(r'File "(?P<path>[^"]+)", line \d+, in (?P<func>[\w<>.]+)')
_JS_FRAME = re.compile(r"^\s*at (?:(?P<func>[^\s(]+) \()?(?P<path>[^\s()]+?):\d+(?::\d+)?\)?\s*$")
_JAVA_FRAME = re.compile(r"^\s*at (?P<qual>[\w$.]+)\.(?P<func>[\w$<>]+)\([^)]*\)\s*$")
_PLAIN_FRAME = re.compile(r"^\s*(?P<path>[\w./\\-]+\.\w+):(?P<func>[\w<>.]+)\s*$")


@dataclass(frozen=True)
class FailureSignature:
    error_type: str
    message: str
    frames: tuple[str, ...]
    selector: str | None

    @property
    def canonical(self) -> str:
        """The normalised text the id is a hash of (shown to people as the signature's meaning)."""
        parts = [self.error_type, self.message, *self.frames]
        if self.selector:
            parts.append(f"selector={self.selector}")
        return "\n".join(parts)

    @property
    def id(self) -> str:
        digest = hashlib.sha256(self.canonical.encode("utf-8")).hexdigest()[:24]
        return f"{SIGNATURE_VERSION}:{digest}"


def first_line(text: str, limit: int = MAX_SCAN_CHARS) -> str:
    """`text.strip().splitlines()[0]`, cut at `limit`, without splitting (or stripping) all of a huge text."""
    start = len(text) - len(text.lstrip())
    window = text[start:start + limit + 1]
    if brk := _LINE_BREAK.search(window):
        window = window[:brk.start()]
    return window[:limit]


def normalise_message(message: str) -> str:
    text = first_line(message)
    for index, (pattern, replacement) in enumerate(_MASKS):
        if _could_match(index, text):
            text = pattern.sub(replacement, text)
    return _WHITESPACE.sub(" ", text).strip()[:MAX_MESSAGE_CHARS]


def normalise_error_type(error_type: str) -> str:
    """`selenium.common.exceptions.NoSuchElementException` and `NoSuchElementException` are one type."""
    return error_type.strip().rsplit(".", 1)[-1] or "Error"


def _module(path: str) -> str:
    """The last two path components without extension: stable across machines and checkouts."""
    parts = [p for p in re.split(r"[\\/]", path.split("?")[0]) if p]
    if parts:
        parts[-1] = parts[-1].split(".")[0]
    return "/".join(parts[-2:])


def stack_frames(stack_trace: str, limit: int = DEFAULT_FRAMES) -> tuple[str, ...]:
    """The innermost `limit` frames as `module:function`, whatever the language of the trace."""
    tail = stack_trace[-MAX_TRACE_CHARS:]
    python_frames = [f"{_module(m['path'])}:{m['func']}" for m in _PY_FRAME.finditer(tail)]
    if python_frames:
        return tuple(reversed(python_frames))[:limit]  # Python prints the innermost frame last
    frames: list[str] = []
    for line in stack_trace[:MAX_TRACE_CHARS].splitlines():
        if java := _JAVA_FRAME.match(line):
            frames.append(f"{java['qual'].rsplit('.', 1)[-1]}:{java['func']}")
        elif js := _JS_FRAME.match(line):
            frames.append(f"{_module(js['path'])}:{js['func'] or '<anonymous>'}")
        elif plain := _PLAIN_FRAME.match(line):
            frames.append(f"{_module(plain['path'])}:{plain['func']}")
        if len(frames) == limit:
            break
    return tuple(frames)


def compute(failure_details: Mapping[str, Any], frames: int = DEFAULT_FRAMES) -> FailureSignature:
    """The signature of one `failure_details` payload (see `payloads.FailureDetails`)."""
    selector = failure_details.get("selector")
    return FailureSignature(
        error_type=normalise_error_type(str(failure_details.get("error_type") or "")),
        message=normalise_message(str(failure_details.get("message") or "")),
        frames=stack_frames(str(failure_details.get("stack_trace") or ""), frames),
        selector=_WHITESPACE.sub(" ", selector).strip() if isinstance(selector, str) and selector.strip() else None,
    )


def signature_id(error_type: str, message: str, stack_trace: str = "", selector: str | None = None) -> str:
    """Scalar form for Flink SQL (registered as a UDF in `udfs/`)."""
    return compute(
        {"error_type": error_type, "message": message, "stack_trace": stack_trace, "selector": selector}
    ).id
