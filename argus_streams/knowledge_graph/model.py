"""What the extractors produce: per file, the symbols it defines and the references it makes (unresolved).

Language-independent: `extract.py` resolves the references across files into entities and edges.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# Entity kinds and the graph label each becomes.
PROJECT, FILE, CLASS, FUNCTION, TEST = "project", "file", "class", "function", "test"
DOCUMENT, CONCEPT = "document", "concept"  # the optional Cognee enrichment's (enrich.py)
LABELS = {PROJECT: "Project", FILE: "File", CLASS: "Class", FUNCTION: "Function", TEST: "Test",
          DOCUMENT: "Document", CONCEPT: "Concept"}
# Edge types of the code graph (the writers accept nothing else as a relationship type).
CONTAINS, DEFINES, IMPORTS, CALLS, EXTENDS, TESTS = "CONTAINS", "DEFINES", "IMPORTS", "CALLS", "EXTENDS", "TESTS"
MENTIONS, RELATES_TO, ABOUT = "MENTIONS", "RELATES_TO", "ABOUT"  # Document -> Concept -> Concept, Class/Function
EDGE_TYPES = (CONTAINS, DEFINES, IMPORTS, CALLS, EXTENDS, TESTS, MENTIONS, RELATES_TO, ABOUT)
# A reference longer than this many dotted parts ("a.b.c") is not followed: real code stays under ~10, and both
# building one (per member level) and resolving one (per prefix) cost its length squared.
MAX_REF_PARTS = 32


@dataclass
class Symbol:
    """A class, function/method or test defined in a file; `qname` is unique within the file."""

    kind: str
    qname: str  # "Cart", "Cart.add", "cart > adds an item"
    name: str
    source: str  # the definition's text: its content hash is of this (plus its properties)
    parent: str | None = None  # qname of the enclosing class (methods, test methods)
    props: dict[str, Any] = field(default_factory=dict)  # exported, component, route, method, async
    bases: list[str] = field(default_factory=list)  # raw references, as written ("Base", "React.Component")
    calls: list[str] = field(default_factory=list)  # raw callees ("f", "mod.f", "self.g", "Cart")


@dataclass
class Import:
    """One import statement: the module as written, and the local names it binds."""

    module: str  # "app.models", ".models" (Python, dots = level), "./cart" (JS)
    names: dict[str, str] = field(default_factory=dict)  # local name -> imported name ("*" = the module)


@dataclass
class Route:
    """An HTTP/page route registered in a file (`router.get("/x", handler)`, `<Route path element>`)."""

    method: str
    path: str
    handler: str  # raw reference to the handling function or component


@dataclass
class ParsedFile:
    path: str  # posix, relative to the codebase
    language: str  # "python", "typescript", "tsx", "javascript"
    digest: str  # sha256 of the file's bytes
    is_test: bool = False
    symbols: list[Symbol] = field(default_factory=list)
    imports: list[Import] = field(default_factory=list)
    routes: list[Route] = field(default_factory=list)
    exports: dict[str, str] = field(default_factory=dict)  # exported name ("default" too) -> local qname
    error: str | None = None  # why it could not be parsed (then it has no symbols)


@dataclass(frozen=True)
class Entity:
    """A resolved entity: `key` is (kind, qualified name), unique in the codebase."""

    kind: str
    qname: str  # "src/cart.ts::Cart.add"; a file's is its path
    name: str
    path: str
    source_digest: str
    props: tuple[tuple[str, Any], ...] = ()

    @property
    def key(self) -> tuple[str, str]:
        return (self.kind, self.qname)


@dataclass(frozen=True)
class Relation:
    type: str
    src: tuple[str, str]  # entity keys
    dst: tuple[str, str]


@dataclass
class Extraction:
    """A codebase's entities and edges, plus the files that could not be parsed and the counts, by reason, of
    those not read at all (paths.py: "not_regular", "outside_root", "too_large", "max_files", ...)."""

    files: list[ParsedFile]
    entities: dict[tuple[str, str], Entity]
    relations: set[Relation]
    skipped: dict[str, int] = field(default_factory=dict)

    @property
    def skipped_count(self) -> int:
        return sum(self.skipped.values())

    @property
    def parse_errors(self) -> dict[str, str]:
        return {f.path: f.error for f in self.files if f.error}
