"""A forgiving DOM snapshot parser: the flat, document-ordered list of elements the locator healer scores.

Snapshots are taken at failure time, so they are often truncated or malformed: unclosed tags are closed
at the end of the document, stray end tags are ignored and the few end tags HTML lets authors omit (`<li>`,
`<p>`, `<td>` ...) are implied, much as a browser would.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from html.parser import HTMLParser

from argus_streams.healing.budget import Deadline, tick

MAX_TEXT_CHARS = 200
MAX_ELEMENTS = 50_000  # a bound on work and memory for pathological snapshots
# Deeper start tags become siblings of the deepest element, as in Blink's tree builder (512 there). Real pages
# are < 50 deep; the bound keeps per-element work (ancestor walks, paths) and 50k nested divs cheap.
MAX_DEPTH = 256
# Raw characters read for an element's text: collapsing whitespace may shrink them below MAX_TEXT_CHARS.
_TEXT_WINDOW = MAX_TEXT_CHARS * 10
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


class Lineage:
    """An element's tag and its parent's lineage: descendants share their ancestors' links instead of each
    copying its whole path (50,000 nested divs would copy 1.25 billion tags)."""

    __slots__ = ("tag", "up", "depth")

    def __init__(self, tag: str, up: Lineage | None):
        self.tag, self.up = tag, up
        self.depth: int = up.depth + 1 if up is not None else 1

    def tags(self, limit: int | None = None) -> tuple[str, ...]:
        """The tags from the root down to this element; the last `limit` of them when given."""
        found: list[str] = []
        node: Lineage | None = self
        while node is not None and (limit is None or len(found) < limit):
            found.append(node.tag)
            node = node.up
        return tuple(reversed(found))


@dataclass(frozen=True)
class Element:
    """One element of a snapshot; `index` is its position in document order (and in `parse_dom`'s list)."""

    tag: str
    id: str | None
    classes: tuple[str, ...]
    text: str
    attributes: dict[str, str] = field(hash=False)
    lineage: Lineage = field(compare=False, repr=False)
    index: int
    parent: int | None = None
    nth_child: int = 1
    nth_of_type: int = 1
    last_descendant: int = -1  # index of the last element inside this one (its own index when it has none)

    @property
    def path(self) -> tuple[str, ...]:
        return self.lineage.tags()

    @property
    def depth(self) -> int:
        return self.lineage.depth


class Elements(list[Element]):
    """`parse_dom`'s result: the elements in document order (`elements[i].index == i`, parents first), and
    the matcher's selections of this document, so that each selector is matched against it once."""

    def __init__(self, elements: list[Element]):
        super().__init__(elements)
        self.selections: dict[str, tuple[int, ...]] = {}


@dataclass
class _Node:
    tag: str
    attrs: dict[str, str]
    lineage: Lineage
    index: int
    parent: int | None
    nth_child: int
    nth_of_type: int
    text_start: int
    text_end: int | None = None
    last_descendant: int = -1
    children: int = 0
    children_of_type: dict[str, int] = field(default_factory=dict)


def collapse(text: str) -> str:
    return _WHITESPACE.sub(" ", text).strip()


class _SnapshotParser(HTMLParser):
    def __init__(self, deadline: Deadline | None = None) -> None:
        super().__init__(convert_charrefs=True)
        self.nodes: list[_Node] = []
        self.open: list[_Node] = []
        self.open_tags: dict[str, int] = {}  # open elements by tag: a stray end tag is found without a scan
        self.chunks: list[str] = []
        self.chars = 0  # characters in `chunks`
        self.text = ""  # "".join(chunks), once parsing is done
        self.deadline = deadline
        self._root_children = 0
        self._root_of_type: dict[str, int] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if self._open(tag, attrs) and tag in VOID_ELEMENTS:
            self._close_top()

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if self._open(tag, attrs):
            self._close_top()

    def handle_endtag(self, tag: str) -> None:
        tick(self.deadline)
        if len(self.nodes) >= MAX_ELEMENTS:
            return  # past the cap, end tags may belong to elements that were never opened
        if not self.open_tags.get(tag):
            return  # A stray end tag (no matching open element) is ignored, as browsers do.
        for position in range(len(self.open) - 1, -1, -1):
            if self.open[position].tag == tag:
                while len(self.open) > position:
                    self._close_top()
                return
        # A stray end tag (no matching open element) is ignored, as browsers do.

    def handle_data(self, data: str) -> None:
        tick(self.deadline)
        if not (self.open and self.open[-1].tag in _RAW_TEXT):
            self.chunks.append(data)
            self.chars += len(data)

    def close(self) -> None:
        super().close()
        while self.open:
            self._close_top()
        self.text = "".join(self.chunks)

    def _open(self, tag: str, attrs: list[tuple[str, str | None]]) -> bool:
        tick(self.deadline)
        if len(self.nodes) >= MAX_ELEMENTS:
            return False
        implied = _IMPLIED_END.get(tag, frozenset())
        while self.open and self.open[-1].tag in implied:
            self._close_top()
        if len(self.open) >= MAX_DEPTH:
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
            lineage=Lineage(tag, parent.lineage if parent else None), parent=parent.index if parent else None,
            nth_child=parent.children if parent else self._root_children, nth_of_type=counts[tag],
            text_start=self.chars,
        )
        self.nodes.append(node)
        self.open.append(node)
        self.open_tags[tag] = self.open_tags.get(tag, 0) + 1
        return True

    def _close_top(self) -> None:
        node = self.open.pop()
        node.text_end = self.chars
        node.last_descendant = len(self.nodes) - 1
        self.open_tags[node.tag] -= 1

    def text_of(self, node: _Node) -> str:
        # Only the first few hundred raw characters matter once the text is collapsed and truncated: a short
        # window first (enough unless the text is mostly whitespace), then the wide one.
        end = self.chars if node.text_end is None else node.text_end
        for window in (MAX_TEXT_CHARS * 2, _TEXT_WINDOW):
            text = collapse(self.text[node.text_start:min(end, node.text_start + window)])
            if len(text) >= MAX_TEXT_CHARS or node.text_start + window >= end:
                break
        return text[:MAX_TEXT_CHARS]


def _element(parser: _SnapshotParser, node: _Node) -> Element:
    attrs = node.attrs
    return Element(
        tag=node.tag,
        id=attrs.get("id") or None,
        classes=tuple(attrs.get("class", "").split()),
        text=parser.text_of(node),
        attributes={name: value for name, value in attrs.items() if name in INTERESTING_ATTRIBUTES},
        lineage=node.lineage,
        index=node.index,
        parent=node.parent,
        nth_child=node.nth_child,
        nth_of_type=node.nth_of_type,
        last_descendant=node.last_descendant,
    )


def parse_dom(html: str, deadline: Deadline | None = None) -> Elements:
    """Every element of `html` in document order; non-text input gives no elements. Raises only
    `HealingTimeout`, when `deadline` passes."""
    if not isinstance(html, str) or not html.strip():
        return Elements([])
    parser = _SnapshotParser(deadline)
    parser.feed(html)
    parser.close()
    elements = []
    for node in parser.nodes:
        tick(deadline)
        elements.append(_element(parser, node))
    return Elements(elements)


def ancestors(element: Element, elements: list[Element]) -> list[Element]:
    """The element's ancestors, nearest first."""
    found: list[Element] = []
    parent = element.parent
    while parent is not None:
        found.append(elements[parent])
        parent = elements[parent].parent
    return found


def _contains(outer: Element, inner: Element, elements: list[Element]) -> bool:
    if outer.last_descendant >= 0:  # parse_dom's elements: a subtree is a contiguous range of indices
        return outer.index < inner.index <= outer.last_descendant
    return any(node.index == outer.index for node in ancestors(inner, elements))


def is_nested(a: Element, b: Element, elements: list[Element]) -> bool:
    """Whether one of the two elements contains the other."""
    return _contains(a, b, elements) or _contains(b, a, elements)
