"""Stack frames of a failure as (file path, function name): what links a test.failed to the code graph."""

from __future__ import annotations

import re

_PY_FRAME = re.compile(r'File "(?P<path>[^"]+)", line \d+, in (?P<func>[\w<>.$]+)')
_JS_FRAME = re.compile(
    r"^\s*at (?:async )?(?:(?P<func>[^\s(]+) (?:\[as [^\]]+\] )?\()?(?P<path>[^\s()]+?):\d+(?::\d+)?\)?\s*$",
    re.MULTILINE)
_ANONYMOUS = frozenset({"<module>", "<anonymous>", "<lambda>", "<listcomp>", "<genexpr>", "new"})
MAX_FRAMES = 50


def _clean_path(path: str) -> str:
    path = re.sub(r"^(file|webpack)://+", "/", path).split("?")[0]
    return path.replace("\\", "/")


def stack_frames(stack_trace: str) -> list[dict[str, str]]:
    """Every named frame, innermost first, without repeats: [{"path": ..., "function": ...}]."""
    python = [(m["path"], m["func"]) for m in _PY_FRAME.finditer(stack_trace)]
    found = list(reversed(python)) if python else [
        (m["path"], m["func"] or "") for m in _JS_FRAME.finditer(stack_trace)]
    frames: list[dict[str, str]] = []
    for path, func in found:
        name = func.rsplit(".", 1)[-1]
        frame = {"path": _clean_path(path), "function": name}
        if name and name not in _ANONYMOUS and frame not in frames:
            frames.append(frame)
    return frames[:MAX_FRAMES]
