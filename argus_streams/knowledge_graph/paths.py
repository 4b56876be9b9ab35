"""Where a codebase may be read from, and how much of it: only under the allowed root (CODEBASE_ROOT), checked
before any read, only regular files, within named caps and a deadline.

A path is resolved (symlinks and `..` included) without opening anything; one that lands outside the
root is refused. Files met while walking are checked the same way, so a symlink inside the codebase
that points outside it is skipped, never followed. FIFOs, sockets and devices are skipped without being
opened (opening a FIFO for reading blocks until a writer comes); every file skipped is counted by reason.
"""

from __future__ import annotations

import os
import stat
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import unquote, urlsplit

from argus_streams.errors import EventValidationError

SKIPPED_DIRS = frozenset({
    ".git", ".hg", ".svn", "node_modules", "__pycache__", ".venv", "venv", ".tox", ".mypy_cache",
    ".pytest_cache", ".ruff_cache", "dist", "build", "target", ".state", ".cache", ".next", "coverage",
})
SOURCE_SUFFIXES = frozenset({".py", ".js", ".jsx", ".mjs", ".cjs", ".ts", ".tsx", ".mts", ".cts"})
# Caps on one codebase, applied before a byte is read. This repository is 170 source files, 1.9 MB, extracted
# in 0.35 s; the caps are ~100x that, and at the measured ~3-5 MB/s of extraction they keep one codebase
# well inside EXTRACTION_DEADLINE_S (and the job's 15 min async timeout, which also covers the writes).
MAX_FILE_BYTES = 1024 * 1024  # bigger "source" files are generated or vendored: reported, not parsed
MAX_FILES = 20_000  # source files parsed per codebase; the rest are counted as skipped ("max_files")
MAX_TOTAL_BYTES = 64 * 1024 * 1024  # source bytes parsed per codebase ("max_total_bytes" beyond)
MAX_WALK_ENTRIES = 200_000  # directory entries looked at (files of any kind + directories): the walk stops
MAX_DIR_DEPTH = 64  # directories nested deeper are not entered ("too_deep")
MAX_PATH_CHARS = 4096  # PATH_MAX: a longer codebase_path is refused before touching the file system
EXTRACTION_DEADLINE_S = 300.0  # a codebase that takes longer is its own fault: ExtractionTimeout (-> DLQ)

# Why a file was skipped (the keys of the counts `source_files` and `extract_codebase` report).
OUTSIDE_ROOT, NOT_REGULAR, TOO_DEEP, WALK_TRUNCATED = "outside_root", "not_regular", "too_deep", "walk_truncated"
TOO_LARGE, OVER_MAX_FILES, OVER_MAX_TOTAL_BYTES = "too_large", "max_files", "max_total_bytes"


class CodebaseError(EventValidationError):
    """A codebase that cannot be analysed at all: the event's fault, so it goes to the DLQ."""

    def __init__(self, message: str, field: str = "payload.codebase_path"):
        super().__init__(field, message)


class PathRefused(CodebaseError):
    """The path is outside the allowed root, or no root is configured: nothing was read."""


class CodebaseNotFound(CodebaseError):
    """The path is allowed but is not a directory."""


class ExtractionTimeout(CodebaseError):
    """The codebase took longer than its deadline to walk, parse or resolve (a runaway codebase)."""


class SkippedFile(Exception):
    """A file that is not read (not regular, over a cap): `reason` is one of the skip reasons above."""

    def __init__(self, reason: str, message: str):
        self.reason = reason
        super().__init__(message)


class Deadline:
    """A monotonic deadline for one codebase; `check()` raises ExtractionTimeout once it has passed."""

    def __init__(self, seconds: float = EXTRACTION_DEADLINE_S):
        self.seconds = seconds
        self.at = time.monotonic() + seconds

    def check(self, where: str) -> None:
        if time.monotonic() > self.at:
            raise ExtractionTimeout(f"extraction took more than {self.seconds:g} s ({where})")


def _within(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


def tenant_root(root: str | Path, tenant: str) -> str:
    """The folder a tenant's codebases live in, `<CODEBASE_ROOT>/<tenant_id>`: no tenant reads another's
    checkout (or the shared root itself). A tenant id that is no single folder name is refused."""
    if not str(root):
        raise PathRefused("no CODEBASE_ROOT is configured: every codebase path is refused")
    if (not isinstance(tenant, str) or tenant in ("", ".", "..") or "/" in tenant or "\x00" in tenant
            or len(tenant.encode()) > 255):
        raise PathRefused(f"tenant id {tenant!r} cannot name a folder under CODEBASE_ROOT")
    return os.path.join(str(root), tenant)


def resolve_codebase(codebase_path: str, root: str | Path) -> Path:
    """The real directory `codebase_path` names (a path, relative ones under `root`, or a file:// URI)."""
    if not str(root):
        raise PathRefused("no CODEBASE_ROOT is configured: every codebase path is refused")
    if not isinstance(codebase_path, str):
        raise PathRefused(f"expected a string, got {type(codebase_path).__name__}")
    if len(codebase_path) > MAX_PATH_CHARS:
        raise PathRefused(f"{len(codebase_path)} characters (max {MAX_PATH_CHARS})")
    text = codebase_path
    if text.startswith("file:"):
        parts = urlsplit(text)
        if parts.netloc not in ("", "localhost"):
            raise PathRefused(f"{codebase_path!r}: only local file:// URIs are allowed")
        text = unquote(parts.path)
    if "\x00" in text:
        raise PathRefused(f"{codebase_path!r}: NUL in path")
    real_root = os.path.realpath(root)
    candidate = os.path.realpath(os.path.join(real_root, text))  # an absolute `text` replaces the root
    if not _within(candidate, real_root):
        raise PathRefused(f"{codebase_path!r} resolves outside CODEBASE_ROOT ({real_root})")
    if not os.path.isdir(candidate):
        raise CodebaseNotFound(f"{codebase_path!r} is not a directory")
    return Path(candidate)


def _entries(directory: str) -> list[os.DirEntry[str]]:
    try:
        with os.scandir(directory) as found:
            return sorted(found, key=lambda entry: entry.name)
    except OSError:
        return []  # unreadable or vanished: as os.walk did, the directory is simply not listed


def source_files(base: Path, suffixes: frozenset[str] = SOURCE_SUFFIXES, skipped: Counter[str] | None = None,
                 deadline: Deadline | None = None, max_entries: int = MAX_WALK_ENTRIES,
                 max_depth: int = MAX_DIR_DEPTH) -> Iterator[tuple[str, Path]]:
    """(relative posix path, path) of every regular file with one of `suffixes` under `base` (source files by
    default), in os.walk's order (a directory's files, sorted, then its subdirectories), never leaving `base`.

    Iterative (os.walk recurses: a tree nested ~1,000 deep raised RecursionError) and bounded: at most
    `max_entries` entries are looked at and `max_depth` levels entered. What is passed over is counted in
    `skipped` by reason; symlinked files are followed only when they land inside `base` on a regular file.
    """
    skipped = Counter() if skipped is None else skipped
    real_base = os.path.realpath(base)
    seen = 0
    stack: list[tuple[str, int]] = [(real_base, 0)]
    while stack:
        directory, depth = stack.pop()
        entries = _entries(directory)
        seen += len(entries)
        if seen > max_entries:
            skipped[WALK_TRUNCATED] += 1 + len(stack)  # this directory and the ones still to visit
            return
        if deadline is not None:
            deadline.check(f"walking {directory}")
        subdirs: list[str] = []
        for entry in entries:
            if entry.is_dir(follow_symlinks=False):  # os.walk does not follow directory symlinks either
                if entry.name not in SKIPPED_DIRS and not entry.name.startswith("."):
                    subdirs.append(entry.path)
                continue
            if Path(entry.name).suffix not in suffixes:
                continue
            real = os.path.realpath(entry.path)
            if not _within(real, real_base):
                skipped[OUTSIDE_ROOT] += 1  # a symlink out of the codebase
                continue
            try:
                mode = os.stat(real).st_mode  # the target, never opened: a FIFO would block the reader
            except OSError:
                mode = 0  # dangling: read later, so it is reported as that file's error
            if mode and not stat.S_ISREG(mode):
                skipped[NOT_REGULAR] += 1
                continue
            yield Path(entry.path).relative_to(real_base).as_posix(), Path(entry.path)
        if depth >= max_depth and subdirs:
            skipped[TOO_DEEP] += len(subdirs)
            continue
        stack.extend((d, depth + 1) for d in reversed(subdirs))


def read_source(full: Path, max_bytes: int = MAX_FILE_BYTES, budget: int | None = None) -> bytes:
    """The bytes of the regular file `full`: at most `max_bytes` (SkippedFile TOO_LARGE beyond) and at most
    `budget` (SkippedFile OVER_MAX_TOTAL_BYTES beyond). Never blocks: opened non-blocking, and anything but a
    regular file is refused from its descriptor (the walk's check can race a swap). OSError when unreadable."""
    fd = os.open(full, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise SkippedFile(NOT_REGULAR, f"NotRegularFile: mode {stat.filemode(info.st_mode)}")
        _check_size(info.st_size, max_bytes, budget)
        chunks: list[bytes] = []
        size = 0
        while chunk := os.read(fd, min(1 << 20, max_bytes + 1 - size)):
            chunks.append(chunk)
            size += len(chunk)
            if size > max_bytes:
                break
        _check_size(size, max_bytes, budget)  # the file grew after fstat
        return b"".join(chunks)
    finally:
        os.close(fd)


def _check_size(size: int, max_bytes: int, budget: int | None) -> None:
    if size > max_bytes:
        raise SkippedFile(TOO_LARGE, f"FileTooLarge: {size} bytes (max {max_bytes})")
    if budget is not None and size > budget:
        raise SkippedFile(OVER_MAX_TOTAL_BYTES, f"over the codebase's byte budget ({size} > {budget} left)")
