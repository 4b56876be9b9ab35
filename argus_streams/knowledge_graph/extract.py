"""Extract: a codebase directory -> entities and edges, references resolved within the project.

    extract_codebase(path) -> Extraction  (pure Python; no database, no Flink)

Calls, imports and base classes are resolved only when their target is in the codebase; references to
libraries are dropped. A file that cannot be read or parsed is kept as a File with its error; files passed
over (not regular, outside the codebase, over a cap: see paths.py) are counted in `Extraction.skipped`.

Bounded: the walk and the reads are capped before anything is read, each file's parse is bounded by its size
cap, name resolution memoises per class and never revisits one (inheritance cycles end), and the whole
codebase runs against a Deadline (ExtractionTimeout, a data error, past it).
"""

from __future__ import annotations

import hashlib
import posixpath
from collections import Counter
from collections.abc import Iterable
from pathlib import Path, PurePosixPath

from argus_streams.knowledge_graph import jsextract, pyextract
from argus_streams.knowledge_graph.model import (
    CALLS,
    CLASS,
    DEFINES,
    EXTENDS,
    FILE,
    FUNCTION,
    IMPORTS,
    MAX_REF_PARTS,
    TEST,
    TESTS,
    Entity,
    Extraction,
    ParsedFile,
    Relation,
    Symbol,
)
from argus_streams.knowledge_graph.paths import (
    EXTRACTION_DEADLINE_S,
    MAX_FILE_BYTES,
    MAX_FILES,
    MAX_TOTAL_BYTES,
    OVER_MAX_FILES,
    TOO_LARGE,
    Deadline,
    SkippedFile,
    read_source,
    source_files,
)

JS_EXTENSIONS = (".ts", ".tsx", ".js", ".jsx", ".mjs", ".cjs", ".mts", ".cts", ".d.ts")
MAX_DEPTH = 8  # re-export chains and inheritance are followed this far
MAX_METHOD_BASES = 64  # a class's first bases searched for an inherited method (EXTENDS edges keep them all)
DEADLINE_EVERY = 256  # resolver steps between two deadline checks

Target = tuple[str, str]  # ("module", path) or (path, symbol qname)
MODULE = "module"


def language_of(path: str) -> str:
    return "python" if path.endswith(".py") else jsextract.LANGUAGES[PurePosixPath(path).suffix]


def parse_source(path: str, data: bytes) -> ParsedFile:
    """One source file's bytes; never raises for the file's content (errors are in `.error`)."""
    language = language_of(path)
    digest = hashlib.sha256(data).hexdigest()
    try:
        if language == "python":
            return pyextract.parse_python(path, data, digest)
        return jsextract.parse_js(path, data, digest)
    except Exception as exc:  # an extractor bug on one odd file must not lose the codebase (or loop the job)
        return ParsedFile(path, language, digest, error=f"ExtractorError: {type(exc).__name__}: {exc}")


def parse_file(path: str, full: Path, max_bytes: int = MAX_FILE_BYTES) -> ParsedFile:
    """One source file; never raises for the file's content or kind (a FIFO is refused, not waited on)."""
    try:
        data = read_source(full, max_bytes)
    except SkippedFile as exc:
        return ParsedFile(path, language_of(path), "", error=str(exc))
    except OSError as exc:
        return ParsedFile(path, language_of(path), "", error=f"{type(exc).__name__}: {exc.strerror or exc}")
    return parse_source(path, data)


def python_module(path: str) -> str:
    parts = list(PurePosixPath(path).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


class Resolver:
    """Name resolution across the files of one codebase."""

    def __init__(self, files: Iterable[ParsedFile], deadline: Deadline | None = None):
        self.deadline = deadline
        self.steps = 0
        self._bases: dict[Target, list[Target]] = {}  # per codebase: at most one entry per class
        self._methods: dict[tuple[Target, str], Target | None] = {}  # at most one per (class, name) looked up
        self.files = {f.path: f for f in files}
        self.symbols: dict[Target, Symbol] = {(f.path, s.qname): s for f in self.files.values() for s in f.symbols}
        self.modules: dict[str, str] = {}
        for path in self.files:
            if path.endswith(".py"):
                module = python_module(path)
                self.modules[module] = path
                if module.startswith("src."):  # a src/ layout imports without the src prefix
                    self.modules.setdefault(module[4:], path)
        self.bindings: dict[str, dict[str, Target]] = {}
        self.imported: dict[str, set[str]] = {}
        for f in self.files.values():
            self.bindings[f.path], self.imported[f.path] = self._bind(f)

    # Imports ------------------------------------------------------------------------------------------------
    def import_path(self, parsed: ParsedFile, module: str) -> str | None:
        if parsed.language == "python":
            level = len(module) - len(module.lstrip("."))
            if level:
                package = python_module(parsed.path).split(".")
                if not parsed.path.endswith("__init__.py"):
                    package = package[:-1]
                base = package[: len(package) - (level - 1)] if level > 1 else package
                module = ".".join([*base, module[level:]] if module[level:] else base)
            return self.modules.get(module)
        if not module.startswith("."):
            return None  # a package from node_modules
        joined = posixpath.normpath(posixpath.join(posixpath.dirname(parsed.path), module))
        stem = joined[: -len(PurePosixPath(joined).suffix)] if joined.endswith((".js", ".jsx")) else joined
        candidates = [joined, *(stem + ext for ext in JS_EXTENSIONS),
                      *(f"{joined}/index{ext}" for ext in JS_EXTENSIONS)]
        return next((c for c in candidates if c in self.files), None)

    def _bind(self, parsed: ParsedFile) -> tuple[dict[str, Target], set[str]]:
        bindings: dict[str, Target] = {}
        imported: set[str] = set()
        for imp in parsed.imports:
            target_path = self.import_path(parsed, imp.module)
            if target_path:
                imported.add(target_path)
            for local, name in imp.names.items():
                if name == "*":  # `import a.b` binds "a.b", `import * as ns` binds "ns": the module
                    if target_path:
                        bindings[local] = (MODULE, target_path)
                    continue
                submodule = f"{imp.module}.{name}" if not imp.module.endswith(".") else imp.module + name
                sub_path = self.import_path(parsed, submodule) if parsed.language == "python" else None
                if sub_path:  # `from pkg import module`
                    bindings[local] = (MODULE, sub_path)
                    imported.add(sub_path)
                elif target_path:
                    bindings[local] = (target_path, name)  # an exported name, looked up lazily
        return bindings, imported

    # References ---------------------------------------------------------------------------------------------
    def exported(self, path: str, name: str, depth: int = 0) -> Target | None:
        """The symbol a module exports under `name`, following re-exports (`from .x import y` in __init__)."""
        parsed = self.files[path]
        local = parsed.exports.get(name, name) if parsed.language != "python" else name
        if (path, local) in self.symbols and self.symbols[(path, local)].parent is None:
            return (path, local)
        bound = self.bindings.get(path, {}).get(local)
        if bound and depth < MAX_DEPTH:
            return self.follow(bound, depth + 1)
        return None

    def follow(self, target: Target, depth: int = 0) -> Target | None:
        if target[0] == MODULE or target in self.symbols:
            return target
        return self.exported(target[0], target[1], depth)

    def tick(self) -> None:
        self.steps += 1
        if self.deadline is not None and self.steps % DEADLINE_EVERY == 0:
            self.deadline.check("resolving names")

    def base_classes(self, class_target: Target) -> list[Target]:
        """The classes `class_target` names as its first MAX_METHOD_BASES bases (resolved once per class)."""
        found = self._bases.get(class_target)
        if found is None:
            found = []
            for base in self.symbols[class_target].bases[:MAX_METHOD_BASES]:
                target = self.resolve(class_target[0], base, None, members=False)
                if target and self.symbols[target].kind == CLASS and target not in found:
                    found.append(target)
            self._bases[class_target] = found
        return found

    def method(self, class_target: Target, name: str) -> Target | None:
        """`name` on the class or, depth first in base order, on its bases up to MAX_DEPTH levels up.

        A class is searched again only when met at a smaller depth than before (so the result is the one of
        an unbounded depth-first search cut at MAX_DEPTH), which ends `class A(A)`, `A(B)`/`B(A)` and fans.
        """
        memo = (class_target, name)
        if memo in self._methods:
            return self._methods[memo]
        found: Target | None = None
        best: dict[Target, int] = {}
        stack = [(class_target, 0)]
        while stack:
            target, depth = stack.pop()
            if best.get(target, MAX_DEPTH + 1) <= depth:
                continue
            best[target] = depth
            self.tick()
            if (target[0], f"{target[1]}.{name}") in self.symbols:
                found = (target[0], f"{target[1]}.{name}")
                break
            if depth < MAX_DEPTH:
                stack.extend((base, depth + 1) for base in reversed(self.base_classes(target)))
        self._methods[memo] = found
        return found

    def resolve(self, path: str, ref: str, enclosing_class: str | None, members: bool = True) -> Target | None:
        """The symbol `ref` (as written in `path`) names, or None when it is not in the codebase.

        `members=False` (base classes) does not look names up on classes: a class member is never a class
        (classes are top-level), and base resolution must not re-enter method lookup.
        """
        self.tick()
        parts = ref.split(".", MAX_REF_PARTS)
        if len(parts) > MAX_REF_PARTS:
            return None
        if parts[0] in ("self", "this", "cls", "super"):
            if not (enclosing_class and len(parts) == 2 and (path, enclosing_class) in self.symbols):
                return None
            if parts[0] != "super":
                return self.method((path, enclosing_class), parts[1])
            for base_target in self.base_classes((path, enclosing_class)):  # `super.m()`: the base class's m
                if found := self.method(base_target, parts[1]):
                    return found
            return None
        target: Target | None = None
        rest: list[str] = []
        for i in range(len(parts), 0, -1):
            prefix = ".".join(parts[:i])
            if i == 1 and (path, prefix) in self.symbols and self.symbols[(path, prefix)].parent is None:
                target = (path, prefix)
            elif prefix in self.bindings[path]:
                target = self.follow(self.bindings[path][prefix])
            if target:
                rest = parts[i:]
                break
        while target and rest:
            name, rest = rest[0], rest[1:]
            if target[0] == MODULE:
                target = self.exported(target[1], name)
            elif self.symbols[target].kind == CLASS and members:
                target = self.method(target, name)
            else:
                return None
        if target is None or target[0] == MODULE:
            return None
        return target


def _qname(path: str, qname: str) -> str:
    return f"{path}::{qname}"


def _entities(resolver: Resolver) -> dict[tuple[str, str], Entity]:
    routes: dict[Target, set[str]] = {}
    for parsed in resolver.files.values():
        for route in parsed.routes:
            if target := resolver.resolve(parsed.path, route.handler, None):
                routes.setdefault(target, set()).add(f"{route.method} {route.path}")
    entities: dict[tuple[str, str], Entity] = {}
    for parsed in resolver.files.values():
        file_props = {"language": parsed.language, "test": parsed.is_test, "parse_error": parsed.error}
        entity = Entity(FILE, parsed.path, PurePosixPath(parsed.path).name, parsed.path, parsed.digest,
                        tuple(sorted(file_props.items())))
        entities[entity.key] = entity
        for symbol in parsed.symbols:
            props = dict(symbol.props)
            if (parsed.path, symbol.qname) in routes:
                props["route"] = ", ".join(sorted(routes[(parsed.path, symbol.qname)] | (
                    {props["route"]} if props.get("route") else set())))
            digest = hashlib.sha256(symbol.source.encode()).hexdigest()
            entity = Entity(symbol.kind, _qname(parsed.path, symbol.qname), symbol.name, parsed.path, digest,
                            tuple(sorted(props.items())))
            entities[entity.key] = entity
    return entities


def _relations(resolver: Resolver) -> set[Relation]:
    relations: set[Relation] = set()
    for parsed in resolver.files.values():
        if resolver.deadline is not None:
            resolver.deadline.check(f"resolving {parsed.path}")
        file_key = (FILE, parsed.path)
        for imported in resolver.imported[parsed.path] - {parsed.path}:
            relations.add(Relation(IMPORTS, file_key, (FILE, imported)))
        for symbol in parsed.symbols:
            key = (symbol.kind, _qname(parsed.path, symbol.qname))
            owner = (CLASS, _qname(parsed.path, symbol.parent)) if symbol.parent else file_key
            relations.add(Relation(DEFINES, owner, key))
            enclosing = symbol.parent if symbol.kind != CLASS else symbol.qname
            for base in symbol.bases:
                target = resolver.resolve(parsed.path, base, None, members=False)
                if target and resolver.symbols[target].kind == CLASS:
                    relations.add(Relation(EXTENDS, key, (CLASS, _qname(*target))))
            for callee in symbol.calls:
                target = resolver.resolve(parsed.path, callee, enclosing)
                if not target or resolver.symbols[target].kind not in (CLASS, FUNCTION):
                    continue
                exercised = symbol.kind == TEST and not resolver.files[target[0]].is_test
                relations.add(Relation(TESTS if exercised else CALLS, key,
                                       (resolver.symbols[target].kind, _qname(*target))))
    return relations


def resolve(files: list[ParsedFile], skipped: Counter[str] | None = None,
            deadline: Deadline | None = None) -> Extraction:
    resolver = Resolver(files, deadline)
    return Extraction(files=files, entities=_entities(resolver), relations=_relations(resolver),
                      skipped=dict(sorted((skipped or Counter()).items())))


def read_files(base: Path, deadline: Deadline, max_files: int = MAX_FILES, max_file_bytes: int = MAX_FILE_BYTES,
               max_total_bytes: int = MAX_TOTAL_BYTES) -> tuple[list[ParsedFile], Counter[str]]:
    """The parsed source files under `base`, capped before each read; and the counts of those skipped, by reason.

    A file over MAX_FILE_BYTES stays a File with its error (as an unparsable file does); one past MAX_FILES or
    past the byte budget is not read at all.
    """
    skipped: Counter[str] = Counter()
    files: list[ParsedFile] = []
    total = 0
    for rel, full in source_files(base, skipped=skipped, deadline=deadline):
        if len(files) >= max_files:
            skipped[OVER_MAX_FILES] += 1
            continue
        deadline.check(f"reading {rel}")
        try:
            data = read_source(full, max_file_bytes, max_total_bytes - total)
        except SkippedFile as exc:
            skipped[exc.reason] += 1
            if exc.reason == TOO_LARGE:
                files.append(ParsedFile(rel, language_of(rel), "", error=str(exc)))
            continue
        except OSError as exc:
            files.append(ParsedFile(rel, language_of(rel), "", error=f"{type(exc).__name__}: {exc.strerror or exc}"))
            continue
        total += len(data)
        files.append(parse_source(rel, data))
    return files, skipped


def extract_codebase(base: Path, deadline: Deadline | None = None) -> Extraction:
    """Every source file under `base` (already checked against the allowed root: see paths.py), within the
    caps of paths.py and `deadline` (EXTRACTION_DEADLINE_S from now by default)."""
    deadline = deadline or Deadline(EXTRACTION_DEADLINE_S)
    files, skipped = read_files(base, deadline)
    return resolve(files, skipped, deadline)
