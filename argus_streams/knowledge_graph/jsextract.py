"""JavaScript and TypeScript files with tree-sitter: classes, functions, components, routes, tests, imports, calls."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from pathlib import PurePosixPath
from typing import Any

import tree_sitter_javascript
import tree_sitter_typescript
from tree_sitter import Language, Node, Parser

from argus_streams.knowledge_graph.model import CLASS, FUNCTION, MAX_REF_PARTS, TEST, Import, ParsedFile, Route, Symbol

LANGUAGES = {
    ".ts": "typescript", ".mts": "typescript", ".cts": "typescript", ".tsx": "tsx",
    ".js": "javascript", ".jsx": "javascript", ".mjs": "javascript", ".cjs": "javascript",
}
_GRAMMARS = {
    "typescript": tree_sitter_typescript.language_typescript,
    "tsx": tree_sitter_typescript.language_tsx,
    "javascript": tree_sitter_javascript.language,
}
_TEST_FILE = re.compile(r"\.(test|spec)\.[cm]?[jt]sx?$")
ROUTE_METHODS = frozenset({"get", "post", "put", "patch", "delete", "head", "options", "all"})
TEST_CALLS = frozenset({"it", "test"})
SUITE_CALLS = frozenset({"describe", "suite"})
COMPONENT_BASES = frozenset({"Component", "PureComponent", "React.Component", "React.PureComponent"})
_FUNCTION_VALUES = frozenset({"arrow_function", "function_expression", "function", "generator_function"})
_JSX = frozenset({"jsx_element", "jsx_self_closing_element", "jsx_fragment"})
_NAMES = frozenset({"identifier", "this", "super", "property_identifier", "type_identifier"})
MAX_SUITE_DEPTH = 32  # `describe` blocks nested deeper are not searched for tests
_local = threading.local()  # parsers are not thread-safe: one set per thread


def parser_for(language: str) -> Parser:
    parsers = getattr(_local, "parsers", None)
    if parsers is None:
        parsers = _local.parsers = {}
    if language not in parsers:
        parsers[language] = Parser(Language(_GRAMMARS[language]()))
    return parsers[language]


def is_test_file(path: str) -> bool:
    return bool(_TEST_FILE.search(path)) or "__tests__" in PurePosixPath(path).parts


def text(node: Node | None) -> str:
    return node.text.decode("utf-8", errors="replace") if node is not None and node.text is not None else ""


def string_value(node: Node | None) -> str | None:
    if node is None or node.type not in ("string", "template_string"):
        return None
    if node.type == "template_string" and any(c.type == "template_substitution" for c in node.named_children):
        return None
    return text(node)[1:-1]


def walk(node: Node) -> Iterator[Node]:
    stack = [node]
    while stack:
        current = stack.pop()
        yield current
        stack.extend(reversed(current.named_children))


def reference(node: Node | None) -> str | None:
    """`a`, `a.b`, `this.b` for identifiers and member chains, else None (and for chains longer than
    MAX_REF_PARTS). A loop: recursing per member level rebuilt the string per level (quadratic: 3.8 s for
    1,200 calls of 400 parts) and hit the recursion limit on long chains."""
    props: list[str] = []
    while node is not None and node.type == "member_expression":
        prop = node.child_by_field_name("property")
        if prop is None or len(props) >= MAX_REF_PARTS:
            return None
        props.append(text(prop))
        node = node.child_by_field_name("object")
    if node is None or node.type not in _NAMES:
        return None
    return ".".join([text(node), *reversed(props)])


def calls_in(node: Node | None) -> list[str]:
    seen: dict[str, None] = {}
    if node is None:
        return []
    for child in walk(node):
        if child.type == "call_expression":
            ref = reference(child.child_by_field_name("function"))
        elif child.type == "new_expression":
            ref = reference(child.child_by_field_name("constructor"))
        elif child.type in ("jsx_self_closing_element", "jsx_opening_element"):
            ref = reference(child.child_by_field_name("name"))  # rendering a component calls it
            ref = ref if ref and ref[:1].isupper() else None
        else:
            continue
        if ref:
            seen.setdefault(ref)
    return list(seen)


def has_jsx(node: Node | None) -> bool:
    return node is not None and any(child.type in _JSX for child in walk(node))


def first_error(node: Node) -> str:
    for child in walk(node):
        if child.type == "ERROR" or child.is_missing:
            row, column = child.start_point
            return f"SyntaxError: {child.type} at line {row + 1}, column {column + 1}"
    return "SyntaxError"


class _Extractor:
    def __init__(self, parsed: ParsedFile):
        self.parsed = parsed

    def add(self, symbol: Symbol) -> None:
        self.parsed.symbols.append(symbol)

    def function(self, name: str, node: Node, body: Node | None, parent: str | None = None) -> None:
        props: dict[str, Any] = {"method": parent is not None,
                                 "async": any(c.type == "async" for c in node.children)}
        if parent is None and name[:1].isupper() and has_jsx(body):
            props["component"] = True
        self.add(Symbol(kind=FUNCTION, qname=f"{parent}.{name}" if parent else name, name=name, source=text(node),
                        parent=parent, props=props, calls=calls_in(body)))

    def klass(self, node: Node) -> None:
        name = text(node.child_by_field_name("name")) or "default"
        bases: list[str] = []
        for heritage in (c for c in node.named_children if c.type == "class_heritage"):
            for child in heritage.named_children:
                target = child.child_by_field_name("value") if child.type == "extends_clause" else child
                if child.type == "extends_clause":
                    target = target or (child.named_children[0] if child.named_children else None)
                if child.type != "implements_clause" and (ref := reference(target)):
                    bases.append(ref)
        props: dict[str, Any] = {"component": True} if set(bases) & COMPONENT_BASES else {}
        self.add(Symbol(kind=CLASS, qname=name, name=name, source=text(node), bases=bases, props=props))
        body = node.child_by_field_name("body")
        for member in body.named_children if body is not None else []:
            if member.type == "method_definition":
                self.function(text(member.child_by_field_name("name")), member,
                              member.child_by_field_name("body"), parent=name)
            elif member.type in ("public_field_definition", "field_definition"):
                value = member.child_by_field_name("value")
                key = member.child_by_field_name("name") or member.child_by_field_name("property")
                if value is not None and value.type in _FUNCTION_VALUES and key is not None:
                    self.function(text(key), member, value.child_by_field_name("body"), parent=name)

    def declaration(self, node: Node) -> list[str]:
        """A top-level declaration; returns the names it defines."""
        if node.type in ("function_declaration", "generator_function_declaration"):
            name = text(node.child_by_field_name("name")) or "default"
            self.function(name, node, node.child_by_field_name("body"))
            return [name]
        if node.type in ("class_declaration", "abstract_class_declaration", "class"):
            self.klass(node)
            return [text(node.child_by_field_name("name")) or "default"]
        if node.type in ("lexical_declaration", "variable_declaration"):
            names = []
            for declarator in (c for c in node.named_children if c.type == "variable_declarator"):
                value = declarator.child_by_field_name("value")
                name = text(declarator.child_by_field_name("name"))
                if value is not None and value.type in _FUNCTION_VALUES and name:
                    self.function(name, declarator, value.child_by_field_name("body"))
                    names.append(name)
                elif value is not None and value.type == "class" and name:
                    self.klass(value)
                    names.append(name)
                elif value is not None and value.type == "call_expression":
                    self.require(declarator.child_by_field_name("name"), value)
            return names
        return []

    def require(self, target: Node | None, call: Node) -> None:
        """CommonJS: `const x = require("./y")` binds the module, `const { a, b: c } = require("./y")` names."""
        args = (call.child_by_field_name("arguments") or call).named_children
        if reference(call.child_by_field_name("function")) != "require" or not args or target is None:
            return
        module = string_value(args[0])
        if module is None:
            return
        names: dict[str, str] = {}
        if target.type == "identifier":
            names[text(target)] = "*"
        elif target.type == "object_pattern":
            for part in target.named_children:
                if part.type == "shorthand_property_identifier_pattern":
                    names[text(part)] = text(part)
                elif part.type == "pair_pattern":
                    key, value = part.child_by_field_name("key"), part.child_by_field_name("value")
                    if key is not None and value is not None and value.type == "identifier":
                        names[text(value)] = text(key)
        self.parsed.imports.append(Import(module, names))

    def export(self, node: Node) -> None:
        source = node.child_by_field_name("source")
        if source is not None:  # `export { a } from "./x"`, `export * from "./x"`: a re-export is an import
            self.parsed.imports.append(Import(string_value(source) or "", {}))
            return
        is_default = any(c.type == "default" for c in node.children)
        declaration = node.child_by_field_name("declaration")
        if declaration is not None:
            for name in self.declaration(declaration):
                self.parsed.exports["default" if is_default else name] = name
            return
        value = node.child_by_field_name("value")
        if value is not None and is_default:
            if value.type in _FUNCTION_VALUES or value.type == "class":
                self.declaration_of_value(value)
            elif value.type == "identifier":
                self.parsed.exports["default"] = text(value)
            return
        for clause in (c for c in node.named_children if c.type == "export_clause"):
            for spec in clause.named_children:
                local = text(spec.child_by_field_name("name"))
                alias = spec.child_by_field_name("alias")
                self.parsed.exports[text(alias) if alias is not None else local] = local

    def declaration_of_value(self, value: Node) -> None:
        """`export default function () {}` / `export default class {}`: named `default`."""
        if value.type == "class":
            self.klass(value)
            self.parsed.exports["default"] = text(value.child_by_field_name("name")) or "default"
        else:
            name = text(value.child_by_field_name("name")) or "default"
            self.function(name, value, value.child_by_field_name("body"))
            self.parsed.exports["default"] = name

    def import_(self, node: Node) -> None:
        names: dict[str, str] = {}
        for clause in (c for c in node.named_children if c.type == "import_clause"):
            for child in clause.named_children:
                if child.type == "identifier":
                    names[text(child)] = "default"
                elif child.type == "namespace_import":
                    names[text(child.named_children[-1])] = "*"
                elif child.type == "named_imports":
                    for spec in (s for s in child.named_children if s.type == "import_specifier"):
                        name = text(spec.child_by_field_name("name"))
                        alias = spec.child_by_field_name("alias")
                        names[text(alias) if alias is not None else name] = name
        self.parsed.imports.append(Import(string_value(node.child_by_field_name("source")) or "", names))

    def routes(self, root: Node) -> None:
        for node in walk(root):
            if node.type == "call_expression":
                function = node.child_by_field_name("function")
                args = [a for a in (node.child_by_field_name("arguments") or node).named_children]
                if function is None or function.type != "member_expression" or len(args) < 2:
                    continue
                verb = text(function.child_by_field_name("property")).lower()
                route_path = string_value(args[0])
                handler = reference(args[-1])
                if verb in ROUTE_METHODS and route_path and route_path.startswith("/") and handler:
                    self.parsed.routes.append(Route(verb.upper(), route_path, handler))
            elif node.type in ("jsx_self_closing_element", "jsx_opening_element") and \
                    text(node.child_by_field_name("name")) == "Route":
                self.jsx_route(node)

    def jsx_route(self, node: Node) -> None:
        """`<Route path="/cart" element={<Cart />} />` or `component={Cart}`: the component serves the page."""
        attributes: dict[str, Node] = {}
        for attribute in (c for c in node.named_children if c.type == "jsx_attribute"):
            parts = attribute.named_children
            if len(parts) == 2:
                attributes[text(parts[0])] = parts[1]
        route_path = string_value(attributes.get("path"))
        target = attributes.get("element") or attributes.get("component")
        if not route_path or target is None:
            return
        inner = target.named_children[0] if target.type == "jsx_expression" and target.named_children else target
        if inner.type == "jsx_self_closing_element":
            inner = inner.child_by_field_name("name") or inner
        if handler := reference(inner):
            self.parsed.routes.append(Route("PAGE", route_path, handler))

    def tests(self, node: Node, prefix: tuple[str, ...]) -> None:
        """`describe(name, fn)` nests (MAX_SUITE_DEPTH deep); `it(name, fn)` / `test(name, fn)` is a test
        exercising what fn calls."""
        for child in node.named_children:
            call = child.named_children[0] if child.type == "expression_statement" and child.named_children else child
            if call.type != "call_expression":
                continue
            callee = reference(call.child_by_field_name("function")) or ""
            head = callee.split(".")[0]
            args = (call.child_by_field_name("arguments") or call).named_children
            name = string_value(args[0]) if args else None
            body = args[-1] if args and args[-1].type in _FUNCTION_VALUES else None
            if name is None or body is None:
                continue
            if head in SUITE_CALLS:
                inner = body.child_by_field_name("body")
                if inner is not None and len(prefix) < MAX_SUITE_DEPTH:
                    self.tests(inner, (*prefix, name))
            elif head in TEST_CALLS:
                qname = " > ".join((*prefix, name))
                self.add(Symbol(kind=TEST, qname=qname, name=name, source=text(call), props={},
                                calls=calls_in(body.child_by_field_name("body"))))

    def program(self, root: Node) -> None:
        for node in root.named_children:
            if node.type == "import_statement":
                self.import_(node)
            elif node.type == "export_statement":
                self.export(node)
            else:
                self.declaration(node)
        self.routes(root)
        if self.parsed.is_test:
            self.tests(root, ())


def parse_js(path: str, data: bytes, digest: str) -> ParsedFile:
    language = LANGUAGES[PurePosixPath(path).suffix]
    parsed = ParsedFile(path=path, language=language, digest=digest, is_test=is_test_file(path))
    tree = parser_for(language).parse(data)
    if tree.root_node.has_error:
        parsed.error = first_error(tree.root_node)
        return parsed
    _Extractor(parsed).program(tree.root_node)
    exported = set(parsed.exports.values())
    for symbol in parsed.symbols:
        if symbol.parent is None and symbol.kind != TEST:
            symbol.props["exported"] = symbol.name in exported
    return parsed
