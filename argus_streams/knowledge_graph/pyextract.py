"""Python files with the standard library's `ast`: classes, functions, methods, tests, imports, calls, routes."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import PurePosixPath

from argus_streams.knowledge_graph.model import CLASS, FUNCTION, MAX_REF_PARTS, TEST, Import, ParsedFile, Symbol

HTTP_METHODS = ("get", "post", "put", "patch", "delete", "head", "options")
_TEST_FILE = re.compile(r"(^test_.*|.*_test)\.py$")
_NEWLINE = re.compile(b"\n")


def is_test_file(path: str) -> bool:
    name = PurePosixPath(path).name
    return bool(_TEST_FILE.match(name)) or name == "conftest.py"


def dotted(node: ast.AST) -> str | None:
    """`a.b.c` for a Name/Attribute chain, else None (calls on call results, subscripts, chains longer than
    MAX_REF_PARTS). A loop: one call per level re-built the string per level (quadratic) and recursed."""
    attrs: list[str] = []
    while isinstance(node, ast.Attribute):
        if len(attrs) >= MAX_REF_PARTS:
            return None
        attrs.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        return None
    return ".".join([node.id, *reversed(attrs)])


def _calls(body: list[ast.stmt]) -> list[str]:
    seen: dict[str, None] = {}
    for stmt in body:
        for node in ast.walk(stmt):
            if isinstance(node, ast.Call) and (name := dotted(node.func)):
                seen.setdefault(name)
    return list(seen)


def _statements(body: list[ast.stmt]) -> Iterator[ast.stmt]:
    """Every statement, nested ones too, without descending into expressions (imports are statements)."""
    for stmt in body:
        yield stmt
        for name in ("body", "orelse", "finalbody", "handlers", "cases"):
            inner = getattr(stmt, name, None)
            if isinstance(inner, list):
                yield from _statements(inner)  # type: ignore[arg-type]


def _route(decorators: list[ast.expr]) -> str | None:
    """`@app.get("/x")`, `@router.post("/x")`, `@app.route("/x", methods=["POST"])` -> "GET /x"."""
    for deco in decorators:
        if not (isinstance(deco, ast.Call) and isinstance(deco.func, ast.Attribute) and deco.args):
            continue
        path = deco.args[0]
        if not (isinstance(path, ast.Constant) and isinstance(path.value, str)):
            continue
        verb = deco.func.attr.lower()
        if verb in HTTP_METHODS:
            return f"{verb.upper()} {path.value}"
        if verb == "route":
            methods = next((kw.value for kw in deco.keywords if kw.arg == "methods"), None)
            first = methods.elts[0] if isinstance(methods, ast.List | ast.Tuple) and methods.elts else None
            verb = first.value if isinstance(first, ast.Constant) and isinstance(first.value, str) else "GET"
            return f"{verb.upper()} {path.value}"
    return None


class _Visitor:
    def __init__(self, data: bytes, is_test: bool):
        self.data = data
        # ast.get_source_segment splits the whole file on every call (quadratic: 80% of the extraction time
        # on this repository); the line starts are computed once. Column offsets are UTF-8 byte offsets.
        self.starts = [0, *(match.end() for match in _NEWLINE.finditer(data))]
        self.is_test = is_test
        self.symbols: list[Symbol] = []
        self.imports: list[Import] = []

    def source(self, node: ast.stmt) -> str:
        start = self.starts[node.lineno - 1] + node.col_offset
        end = self.starts[(node.end_lineno or node.lineno) - 1] + (node.end_col_offset or 0)
        return self.data[start:end].decode("utf-8")

    def function(self, node: ast.FunctionDef | ast.AsyncFunctionDef, parent: ast.ClassDef | None) -> None:
        qname = f"{parent.name}.{node.name}" if parent else node.name
        test_class = parent is None or parent.name.startswith("Test")
        kind = TEST if self.is_test and node.name.startswith("test") and test_class else FUNCTION
        props: dict[str, object] = {}
        if kind == FUNCTION:  # tests carry no properties (as in JavaScript): their name says it all
            props = {"method": parent is not None, "async": isinstance(node, ast.AsyncFunctionDef)}
        if route := _route(node.decorator_list):
            props["route"] = route
        self.symbols.append(Symbol(kind=kind, qname=qname, name=node.name, source=self.source(node),
                                   parent=parent.name if parent else None, props=props, calls=_calls(node.body)))

    def klass(self, node: ast.ClassDef) -> None:
        bases = [name for base in node.bases if (name := dotted(base))]
        self.symbols.append(Symbol(kind=CLASS, qname=node.name, name=node.name, source=self.source(node),
                                   bases=bases))
        for item in node.body:
            if isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef):
                self.function(item, node)

    def module(self, tree: ast.Module) -> None:
        for node in tree.body:
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                self.function(node, None)
            elif isinstance(node, ast.ClassDef):
                self.klass(node)
        for found in _statements(tree.body):  # imports anywhere (inside functions too) bind names the file uses
            if isinstance(found, ast.Import):
                for alias in found.names:
                    # `import a.b` binds `a` (and a.b is reachable as `a.b`); `import a.b as c` binds c
                    self.imports.append(Import(alias.name, {alias.asname or alias.name: "*"}))
            elif isinstance(found, ast.ImportFrom):
                module = "." * found.level + (found.module or "")
                self.imports.append(Import(module, {a.asname or a.name: a.name for a in found.names}))


def _exports(tree: ast.Module, symbols: list[Symbol]) -> dict[str, str]:
    """`__all__` when the module declares one, else every public top-level name."""
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "__all__" for t in node.targets):
            if isinstance(node.value, ast.List | ast.Tuple):
                names = {e.value for e in node.value.elts if isinstance(e, ast.Constant) and isinstance(e.value, str)}
                return {s.name: s.qname for s in symbols if s.parent is None and s.name in names}
    return {s.name: s.qname for s in symbols if s.parent is None and not s.name.startswith("_")}


def parse_python(path: str, data: bytes, digest: str) -> ParsedFile:
    parsed = ParsedFile(path=path, language="python", digest=digest, is_test=is_test_file(path))
    try:
        text = data.decode("utf-8")
        tree = ast.parse(text, filename=path)
    except (SyntaxError, UnicodeDecodeError, ValueError, RecursionError, MemoryError) as exc:
        # deep nesting: "too many nested parentheses" (SyntaxError), RecursionError, or the parser's MemoryError
        parsed.error = f"{type(exc).__name__}: {str(exc)[:200]}"
        return parsed
    visitor = _Visitor(data, parsed.is_test)
    visitor.module(tree)
    parsed.symbols, parsed.imports = visitor.symbols, visitor.imports
    parsed.exports = _exports(tree, parsed.symbols)
    for symbol in parsed.symbols:
        if symbol.parent is None and symbol.kind != TEST:
            symbol.props["exported"] = symbol.name in parsed.exports
    return parsed
