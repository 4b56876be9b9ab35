"""Where a codebase may be read from: only under the allowed root (CODEBASE_ROOT), checked before any read.

A path is resolved (symlinks and `..` included) without opening anything; one that lands outside the
root is refused. Files met while walking are checked the same way, so a symlink inside the codebase
that points outside it is skipped, never followed.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import unquote, urlsplit

from argus_streams.errors import ArgusStreamsError

SKIPPED_DIRS = frozenset({
    ".git", ".hg", ".svn", "node_modules", "__pycache__", ".venv", "venv", ".tox", ".mypy_cache",
    ".pytest_cache", ".ruff_cache", "dist", "build", "target", ".state", ".cache", ".next", "coverage",
})
SOURCE_SUFFIXES = frozenset({".py", ".js", ".jsx", ".mjs", ".cjs", ".ts", ".tsx", ".mts", ".cts"})
MAX_FILE_BYTES = 1024 * 1024  # bigger "source" files are generated or vendored: reported, not parsed


class CodebaseError(ArgusStreamsError, ValueError):
    """A codebase that cannot be analysed at all (the event goes to the DLQ)."""


class PathRefused(CodebaseError):
    """The path is outside the allowed root, or no root is configured: nothing was read."""


class CodebaseNotFound(CodebaseError):
    """The path is allowed but is not a directory."""


def _within(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


def resolve_codebase(codebase_path: str, root: str | Path) -> Path:
    """The real directory `codebase_path` names (a path, relative ones under `root`, or a file:// URI)."""
    if not str(root):
        raise PathRefused("no CODEBASE_ROOT is configured: every codebase path is refused")
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


def source_files(base: Path, suffixes: frozenset[str] = SOURCE_SUFFIXES) -> Iterator[tuple[str, Path]]:
    """(relative posix path, real path) of every file with one of `suffixes` under `base` (source files by
    default), sorted, never leaving `base`."""
    real_base = os.path.realpath(base)
    for directory, dirs, files in os.walk(real_base):  # os.walk does not follow directory symlinks
        dirs[:] = sorted(d for d in dirs if d not in SKIPPED_DIRS and not d.startswith("."))
        for name in sorted(files):
            if Path(name).suffix not in suffixes:
                continue
            full = os.path.join(directory, name)
            if not _within(os.path.realpath(full), real_base):
                continue  # a symlink out of the codebase
            yield Path(full).relative_to(real_base).as_posix(), Path(full)
