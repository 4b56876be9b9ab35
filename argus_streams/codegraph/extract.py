"""Extract: a codebase directory -> entities and edges, references resolved within the project.

    extract_codebase(path) -> Extraction  (pure Python; no database, no Flink)

Calls, imports and base classes are resolved only when their target is in the codebase; references to
libraries are dropped. A file that cannot be read or parsed is kept as a File with its error.
"""

from __future__ import annotations

import hashlib
import posixpath
from collections.abc import Iterable
from pathlib import Path, PurePosixPath

from argus_streams.codegraph import jsextract, pyextract
from argus_streams.codegraph.model import (
    CALLS,
    CLASS,
    DEFINES,
    EXTENDS,
    FILE,
    FUNCTION,
    IMPORTS,
    TEST,
    TESTS,
    Entity,
    Extraction,
    ParsedFile,
    Relation,
    Symbol,
)
from argus_streams.codegraph.paths import MAX_FILE_BYTES, source_files

JS_EXTENSIONS = (".ts", ".tsx", ".js", ".jsx", ".mjs", ".cjs", ".mts", ".cts", ".d.ts")
MAX_DEPTH = 8  # re-export chains and inheritance are followed this far (cycles end here)

Target = tuple[str, str]  # ("module", path) or (path, symbol qname)
MODULE = "module"


def parse_file(path: str, full: Path) -> ParsedFile:
    """One source file; never raises for the file's content (errors are in `.error`)."""
    language = "python" if path.endswith(".py") else jsextract.LANGUAGES[PurePosixPath(path).suffix]
    try:
        size = full.stat().st_size
        if size > MAX_FILE_BYTES:
            return ParsedFile(path, language, "", error=f"FileTooLarge: {size} bytes (max {MAX_FILE_BYTES})")
        data = full.read_bytes()
    except OSError as exc:
        return ParsedFile(path, language, "", error=f"{type(exc).__name__}: {exc.strerror or exc}")
    digest = hashlib.sha256(data).hexdigest()
    try:
        if language == "python":
            return pyextract.parse_python(path, data, digest)
        return jsextract.parse_js(path, data, digest)
    except Exception as exc:  # an extractor bug on one odd file must not lose the codebase (or loop the job)
        return ParsedFile(path, language, digest, error=f"ExtractorError: {type(exc).__name__}: {exc}")


def python_module(path: str) -> str:
    parts = list(PurePosixPath(path).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


class Resolver:
    """Name resolution across the files of one codebase."""

    def __init__(self, files: Iterable[ParsedFile]):
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

    def method(self, class_target: Target, name: str, depth: int = 0) -> Target | None:
        path, qname = class_target
        found = (path, f"{qname}.{name}")
        if found in self.symbols:
            return found
        if depth >= MAX_DEPTH:
            return None
        for base in self.symbols[class_target].bases:
            base_target = self.resolve(path, base, None)
            if base_target and self.symbols[base_target].kind == CLASS:
                if inherited := self.method(base_target, name, depth + 1):
                    return inherited
        return None

    def resolve(self, path: str, ref: str, enclosing_class: str | None) -> Target | None:
        """The symbol `ref` (as written in `path`) names, or None when it is not in the codebase."""
        parts = ref.split(".")
        if parts[0] in ("self", "this", "cls", "super"):
            if not (enclosing_class and len(parts) == 2 and (path, enclosing_class) in self.symbols):
                return None
            if parts[0] != "super":
                return self.method((path, enclosing_class), parts[1])
            for base in self.symbols[(path, enclosing_class)].bases:  # `super.m()`: the base class's m
                base_target = self.resolve(path, base, None)
                if base_target and self.symbols[base_target].kind == CLASS:
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
            elif self.symbols[target].kind == CLASS:
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
        file_key = (FILE, parsed.path)
        for imported in resolver.imported[parsed.path] - {parsed.path}:
            relations.add(Relation(IMPORTS, file_key, (FILE, imported)))
        for symbol in parsed.symbols:
            key = (symbol.kind, _qname(parsed.path, symbol.qname))
            owner = (CLASS, _qname(parsed.path, symbol.parent)) if symbol.parent else file_key
            relations.add(Relation(DEFINES, owner, key))
            enclosing = symbol.parent if symbol.kind != CLASS else symbol.qname
            for base in symbol.bases:
                target = resolver.resolve(parsed.path, base, None)
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


def resolve(files: list[ParsedFile]) -> Extraction:
    resolver = Resolver(files)
    return Extraction(files=files, entities=_entities(resolver), relations=_relations(resolver))


def extract_codebase(base: Path) -> Extraction:
    """Every source file under `base` (already checked against the allowed root: see paths.py)."""
    return resolve([parse_file(rel, full) for rel, full in source_files(base)])

