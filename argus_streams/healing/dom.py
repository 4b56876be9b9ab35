"""A forgiving DOM snapshot parser: the flat, document-ordered list of elements the locator healer scores.

Snapshots are taken at failure time, so they are often truncated or malformed: unclosed tags are closed
at the end of the document, stray end tags are ignored and the few end tags HTML lets authors omit (`<li>`,
`<p>`, `<td>` ...) are implied, much as a browser would.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from html.parser import HTMLParser

MAX_TEXT_CHARS = 200
MAX_ELEMENTS = 50_000  # a bound on work and memory for pathological snapshots
INTERESTING_ATTRIBUTES = frozenset({
    "name", "type", "role", "aria-label", "placeholder", "data-testid", "data-test", "data-cy", "href", "value",
    "title", "alt",
})
VOID_ELEMENTS = frozenset({
    "area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "param", "source", "track", "wbr",
})
_RAW_TEXT = frozenset({"script", "style", "template", "noscript"})
_BLOCKS_CLOSING_P = frozenset({
    "p", "div", "ul", "ol", "dl", "table", "form", "section", "article", "aside", "header", "footer", "nav",
    "h1", "h2", "h3", "h4", "h5", "h6", "pre", "blockquote", "fieldset", "main", "hr",
})
_IMPLIED_END: dict[str, frozenset[str]] = {
    "li": frozenset({"li"}), "option": frozenset({"option"}), "dt": frozenset({"dt", "dd"}),
    "dd": frozenset({"dt", "dd"}), "tr": frozenset({"tr", "td", "th"}), "td": frozenset({"td", "th"}),
    "th": frozenset({"td", "th"}), **{tag: frozenset({"p"}) for tag in _BLOCKS_CLOSING_P},
}
_WHITESPACE = re.compile(r"\s+")


@dataclass(frozen=True)
class Element:
    """One element of a snapshot; `index` is its position in document order (and in `parse_dom`'s list)."""

    tag: str
    id: str | None
    classes: tuple[str, ...]
    text: str
    attributes: dict[str, str] = field(hash=False)
    path: tuple[str, ...]
    index: int
    parent: int | None = None
    nth_child: int = 1
    nth_of_type: int = 1

    @property
    def depth(self) -> int:
        return len(self.path)


@dataclass
class _Node:
    tag: str
    attrs: dict[str, str]
    path: tuple[str, ...]
    index: int
    parent: int | None
    nth_child: int
    nth_of_type: int
    text_start: int
    text_end: int | None = None
    children: int = 0
    children_of_type: dict[str, int] = field(default_factory=dict)


def collapse(text: str) -> str:
    return _WHITESPACE.sub(" ", text).strip()


class _SnapshotParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.nodes: list[_Node] = []
        self.open: list[_Node] = []
        self.chunks: list[str] = []
        self._root_children = 0
        self._root_of_type: dict[str, int] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if self._open(tag, attrs) and tag in VOID_ELEMENTS:
            self._close_top()

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if self._open(tag, attrs):
            self._close_top()

    def handle_endtag(self, tag: str) -> None:
        if len(self.nodes) >= MAX_ELEMENTS:
            return  # past the cap, end tags may belong to elements that were never opened
        for position in range(len(self.open) - 1, -1, -1):
            if self.open[position].tag == tag:
                while len(self.open) > position:
                    self._close_top()
                return
        # A stray end tag (no matching open element) is ignored, as browsers do.

    def handle_data(self, data: str) -> None:
        if not (self.open and self.open[-1].tag in _RAW_TEXT):
            self.chunks.append(data)

    def close(self) -> None:
        super().close()
        while self.open:
            self._close_top()

    def _open(self, tag: str, attrs: list[tuple[str, str | None]]) -> bool:
        if len(self.nodes) >= MAX_ELEMENTS:
            return False
        implied = _IMPLIED_END.get(tag, frozenset())
        while self.open and self.open[-1].tag in implied:
            self._close_top()
        parent = self.open[-1] if self.open else None
        counts = parent.children_of_type if parent else self._root_of_type
        counts[tag] = counts.get(tag, 0) + 1
        if parent:
            parent.children += 1
        else:
            self._root_children += 1
        node = _Node(
            tag=tag, attrs={name: value or "" for name, value in attrs}, index=len(self.nodes),
            path=(*(parent.path if parent else ()), tag), parent=parent.index if parent else None,
            nth_child=parent.children if parent else self._root_children, nth_of_type=counts[tag],
            text_start=len(self.chunks),
        )
        self.nodes.append(node)
        self.open.append(node)
        return True

    def _close_top(self) -> None:
        self.open.pop().text_end = len(self.chunks)

    def text_of(self, node: _Node) -> str:
        # Only the first few thousand raw characters matter once the text is collapsed and truncated.
        parts: list[str] = []
        size = 0
        for chunk in self.chunks[node.text_start:node.text_end]:
            parts.append(chunk)
            size += len(chunk)
            if size > MAX_TEXT_CHARS * 10:
                break
        return collapse("".join(parts))[:MAX_TEXT_CHARS]


def _element(parser: _SnapshotParser, node: _Node) -> Element:
    attrs = node.attrs
    return Element(
        tag=node.tag,
        id=attrs.get("id") or None,
        classes=tuple(attrs.get("class", "").split()),
        text=parser.text_of(node),
        attributes={name: value for name, value in attrs.items() if name in INTERESTING_ATTRIBUTES},
        path=node.path,
        index=node.index,
        parent=node.parent,
        nth_child=node.nth_child,
        nth_of_type=node.nth_of_type,
    )


def parse_dom(html: str) -> list[Element]:
    """Every element of `html` in document order; never raises (non-text input gives no elements)."""
    if not isinstance(html, str) or not html.strip():
        return []
    parser = _SnapshotParser()
    parser.feed(html)
    parser.close()
    return [_element(parser, node) for node in parser.nodes]


def ancestors(element: Element, elements: list[Element]) -> list[Element]:
    """The element's ancestors, nearest first."""
    found: list[Element] = []
    parent = element.parent
    while parent is not None:
        found.append(elements[parent])
        parent = elements[parent].parent
    return found


def is_nested(a: Element, b: Element, elements: list[Element]) -> bool:
    """Whether one of the two elements contains the other."""
    return any(node.index == b.index for node in ancestors(a, elements)) or any(
        node.index == a.index for node in ancestors(b, elements))
