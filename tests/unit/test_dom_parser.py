"""The snapshot parser against the one it replaced: the same elements for any HTML, and its helpers.

The oracle is the parser as it was (an `html.parser.HTMLParser` subclass, copied below verbatim but for the
names it imports and its `_old_` prefixes): `dom.parse_dom` reads the markup itself, for speed, and must
find the very same elements, fields and texts, and raise where the old one raised (HTMLParser's
AssertionError on `<![foo`). HTMLParser is the running CPython's: these tests pin the semantics of 3.11.7's.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from argus_streams.healing import css, dom, locator
from argus_streams.healing.budget import Deadline, tick
from argus_streams.healing.dom import (
    _IMPLIED_END,
    _RAW_TEXT,
    _TEXT_WINDOW,
    INTERESTING_ATTRIBUTES,
    MAX_TEXT_CHARS,
    VOID_ELEMENTS,
    Element,
    Elements,
    Lineage,
)

MAX_ELEMENTS = dom.MAX_ELEMENTS
MAX_DEPTH = dom.MAX_DEPTH
_WHITESPACE = re.compile(r"\s+")

# ------------------------------------------------------------------------------ the old parser, verbatim


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


class _OldSnapshotParser(HTMLParser):
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
        self.past_the_cap = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if self._open(tag, attrs) and tag in VOID_ELEMENTS:
            self._close_top()

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if self._open(tag, attrs):
            self._close_top()

    def handle_endtag(self, tag: str) -> None:
        tick(self.deadline)
        if self.past_the_cap or len(self.nodes) >= MAX_ELEMENTS:
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
        if not self.past_the_cap and not (self.open and self.open[-1].tag in _RAW_TEXT):
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
            self.past_the_cap = True  # nothing after the first start tag past the cap is read
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


def _element(parser: _OldSnapshotParser, node: _Node) -> Element:
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


def old_parse_dom(html: str, deadline: Deadline | None = None) -> Elements:
    """Every element of `html` in document order; non-text input gives no elements. Raises only
    `HealingTimeout`, when `deadline` passes."""
    if not isinstance(html, str) or not html.strip():
        return Elements([])
    parser = _OldSnapshotParser(deadline)
    try:
        parser.feed(html)
        parser.close()
    except AssertionError:  # HTMLParser's, on a marked section it cannot read
        if not parser.past_the_cap:
            raise
        while parser.open:  # past the cap nothing is read (the new parser never reaches that markup)
            parser._close_top()
        parser.text = "".join(parser.chunks)
    elements = []
    for node in parser.nodes:
        tick(deadline)
        elements.append(_element(parser, node))
    return Elements(elements)


# ------------------------------------------------------------------------------ generated HTML

_NAMES = ["div", "DIV", "p", "li", "ul", "td", "tr", "table", "option", "dt", "dd", "span", "a", "button", "br",
          "img", "input", "script", "SCRIPT", "style", "template", "noscript", "h1", "form", "hr", "x-y", "a:b"]
_SPACES = [" ", "  ", "\t", "\n", "\r\n", "\f", "\x0b", "\u3000", "\xa0", "/", " / ", ""]
_VALUES = ["x", "a b", "", "&amp;", "a&lt;b", "&#65;", "&#x42;", "&bogus;", "&amp", "1/2", "a'b", 'a"b', "=x",
           "<b>", "a>b", "/", "\u00e9"]


@st.composite
def _attribute(draw: st.DrawFn) -> str:
    name = draw(st.sampled_from(["id", "class", "name", "data-testid", "role", "type", "href", "ID", "Class",
                                 "value", "title", "on:click", "=x", "'q", "x/y", "data-x"]))
    value = draw(st.sampled_from(_VALUES))
    form = draw(st.sampled_from(["none", "bare", "single", "double", "double=", "spaced", "empty"]))
    return {"none": name, "bare": f"{name}={value}", "single": f"{name}='{value}'", "double": f'{name}="{value}"',
            "double=": f"{name}=={value}", "spaced": f"{name} = '{value}'", "empty": f"{name}="}[form]


@st.composite
def _start_tag(draw: st.DrawFn) -> str:
    name = draw(st.sampled_from(_NAMES))
    parts = [draw(st.sampled_from(_SPACES)) + draw(_attribute()) for _ in range(draw(st.integers(0, 3)))]
    end = draw(st.sampled_from([">", "/>", " >", " />", "", " x", "/ >"]))
    return f"<{name}{''.join(parts)}{end}"


_PIECES = st.sampled_from([
    "</div>", "</p>", "</li>", "</ul>", "</td>", "</tr>", "</table>", "</span>", "</a>", "</button>", "</SCRIPT>",
    "</script >", "</script\n>", "</\u017fcript>", "</style>", "</template>", "</noscript>", "</x-y>", "</ div>",
    "</div foo='>'>", "</>", "</3>", "</", "<", "< a", "<3", "<!-- c -->", "<!-- <div> -->", "<!--", "<!---->",
    "--!>", "-->", "<!DOCTYPE html>", "<!doctype", "<?xml v?>", "<?", "<![CDATA[<div>]]>", "<![if x]>",
    "<![endif]>", "<![foo]>", "<![", "<!x>", "<!", "&", "&amp;", "&lt;div&gt;", "&#65;", "&#x42;", "&#0;", "&nbsp;",
    "&amp", "&#", "&#x;", "text", "Save", " ", "  \n\t ", "\u2028", "\xa0", "x" * 300, " y" * 150, ">", "'", '"',
    "=", "/", "\x00",
])
HTML = st.lists(_PIECES | _start_tag() | st.text(max_size=4), max_size=60).map("".join)


def _fields(elements: list[Element]) -> list[tuple[Any, ...]]:
    return [(e.tag, e.id, e.classes, e.text, e.attributes, list(e.attributes), e.path, e.index, e.parent,
             e.nth_child, e.nth_of_type, e.last_descendant) for e in elements]


def _outcome(parse: Any, html: str) -> Any:
    try:
        return _fields(parse(html))
    except AssertionError as exc:  # HTMLParser's, on marked sections it cannot read
        return type(exc)


PARSER = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@PARSER
@given(HTML)
def test_the_parser_finds_the_elements_the_old_one_found(html: str) -> None:
    assert _outcome(dom.parse_dom, html) == _outcome(old_parse_dom, html)


@PARSER
@given(HTML, st.integers(1, 6), st.integers(1, 4))
def test_the_caps_cut_the_same_elements(html: str, max_elements: int, max_depth: int) -> None:
    with pytest.MonkeyPatch.context() as patch:
        for name, value in (("MAX_ELEMENTS", max_elements), ("MAX_DEPTH", max_depth)):
            patch.setattr(dom, name, value)
            patch.setitem(globals(), name, value)
        assert _outcome(dom.parse_dom, html) == _outcome(old_parse_dom, html)


@pytest.mark.parametrize("html", [
    "<div>x" * 3_000, "<li>" * 500 + "</ul>", "<script>" + "<div>" * 100, "<!--" * 300, "<a " + "b=c " * 500,
    "<p>" + " \n " * 2_000 + "word", "<table><tr><td>1<td>2<tr><td>3</table>", "<![foo", "<![if x]><b>y",
    "<style>a</style ><style>b</ſtyle>c</style>", "<div title='>'>t</div>", "<input value='a&amp;b'/>",
])
def test_hand_made_documents_parse_as_before(html: str) -> None:
    assert _outcome(dom.parse_dom, html) == _outcome(old_parse_dom, html)


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.characters(codec="utf-8"), max_size=40)
       | st.lists(st.sampled_from([" ", "\t", "\n", "\x0b", "\x1c", "\x85", "\xa0", "\u2028", "\u3000", "a", "\u200b"]),
                  max_size=20).map("".join))
def test_collapse_is_the_old_regular_expression(text: str) -> None:
    assert dom.collapse(text) == _WHITESPACE.sub(" ", text).strip()


def test_every_whitespace_character_collapses_as_before() -> None:
    for code in range(0x3100):
        text = f"a{chr(code)}b"
        assert dom.collapse(text) == _WHITESPACE.sub(" ", text).strip(), hex(code)


# ------------------------------------------------------------------------------ matcher and ranking

_SELECTOR_PARTS = st.sampled_from(["div", "p", "li", "span", "a", "*", "#a", "#b", ".x", ".y", "[name]",
                                   "[id]", "[class]", "[role=button]", "[name^=q]", ":nth-of-type(2)",
                                   ":nth-child(1)", ":has-text(\"t\")", "button"])
_DOCUMENT_PIECES = st.sampled_from([
    "<div>", "<div class='x'>", "<div id=a class='x y'>", "<p>", "<li>", "<ul>", "<span name=q>", "<a role=button>",
    "<button id=b>", "</div>", "</span>", "</ul>", "t", "<br>", "<input name=qq>",
])


@st.composite
def _selector(draw: st.DrawFn) -> str:
    steps = []
    for _ in range(draw(st.integers(1, 4))):
        compound = "".join(draw(st.lists(_SELECTOR_PARTS, min_size=1, max_size=2)))
        steps.append(compound)
    combinators = [draw(st.sampled_from([" ", " > ", ">"])) for _ in steps[1:]]
    return steps[0] + "".join(c + s for c, s in zip(combinators, steps[1:], strict=True))


@settings(max_examples=300, deadline=None)
@given(st.lists(_DOCUMENT_PIECES, max_size=40).map("".join), _selector())
def test_indexed_selection_is_the_plain_one(html: str, selector: str) -> None:
    elements = dom.parse_dom(html)
    try:
        steps = css.parse_selector(selector)
    except css.SelectorError:
        return
    assert css._indexed_selection(steps, elements, None) == css._selection(steps, list(elements), None)


@dataclass(frozen=True)
class _OldScored:
    element: Element
    score: float
    rank: tuple[float, bool, int] = field(init=False)

    def __post_init__(self) -> None:
        interactive = self.element.tag in locator.INTERACTIVE_TAGS or "role" in self.element.attributes
        object.__setattr__(self, "rank", (round(self.score, 6), interactive, self.element.depth))


_TARGETS = [
    "#a", "#save", "[data-testid=go]", "button.x", "text=Save", "getByRole('button', { name: 'Save' })",
    "ul li a", "//span[@name='q']", "[role=button]", "input[type=submit]", ".y.x", "div > span:has-text('t')",
]


@settings(max_examples=300, deadline=None)
@given(st.lists(_DOCUMENT_PIECES | st.sampled_from(["Save", "<a data-testid=go>", "<input type=submit>",
                                                      "<span role=link>", "save"]), max_size=40).map("".join),
       st.sampled_from(_TARGETS), st.booleans())
def test_the_ranking_is_the_sorted_one(html: str, selector: str, known: bool) -> None:
    known_element = {"tag": "span", "classes": ["x"], "text": "Save", "path": "div>ul>li"}
    details = {"last_known_element": known_element} if known else {}
    target = locator._target(details, selector)
    elements = dom.parse_dom(html)
    scored = [_OldScored(e, locator.score(e, target)) for e in elements if e.tag not in locator.NON_TARGET_TAGS]
    ranked = sorted(scored, key=lambda candidate: candidate.rank, reverse=True)
    rival = next((other for other in ranked[1:] if not dom.is_nested(ranked[0].element, other.element, elements)),
                 None)
    found = locator._ranked(elements, target, Deadline(10.0))
    if not ranked:
        assert found is None
        return
    assert found is not None
    best, new_rival, considered = found.best, found.rival, found.considered
    assert best is not None and found.rival_at_most is None
    assert (best.element.index, best.score, considered) == (ranked[0].element.index, ranked[0].score, len(ranked))
    expected = (rival.element.index, rival.score) if rival else None
    assert ((new_rival.element.index, new_rival.score) if new_rival else None) == expected


@settings(max_examples=300, deadline=None)
@given(st.lists(_DOCUMENT_PIECES | st.sampled_from(["Save", "<a data-testid=go>", "<input type=submit>",
                                                      "<span role=link>", "save"]), max_size=40).map("".join),
       st.sampled_from(_TARGETS), st.booleans(), st.sampled_from([0.2, 0.5, 0.8]))
def test_stopping_at_the_threshold_decides_the_same(html: str, selector: str, known: bool, threshold: float) -> None:
    """Scoring stops once the decision is known (no bound left reaches the threshold, or comes within the
    ambiguity margin of the best): the same answer as the full ranking, and the bounds it reports hold."""
    known_element = {"tag": "span", "classes": ["x"], "text": "Save", "path": "div>ul>li"}
    details = {"last_known_element": known_element} if known else {}
    target = locator._target(details, selector)
    elements = dom.parse_dom(html)
    exact = locator._ranked(elements, target, Deadline(10.0))
    early = locator._ranked(elements, target, Deadline(10.0), threshold)
    if exact is None:
        assert early is None
        return
    assert early is not None and exact.best is not None and early.considered == exact.considered

    def decided(ranking: Any) -> tuple[str, str | None, float]:
        result = locator._decide(ranking, elements, selector, threshold, False, Deadline(10.0))
        return result.status, result.selector, result.confidence

    assert decided(early) == decided(exact)
    if early.best is None:
        assert exact.best.score <= early.best_at_most < threshold
    else:
        assert (early.best.element.index, early.best.score) == (exact.best.element.index, exact.best.score)
    if early.rival_at_most is not None:
        assert exact.rival is None or exact.rival.score <= early.rival_at_most
        assert early.rival_at_most < exact.best.score - locator.AMBIGUITY_MARGIN
