"""A forgiving DOM snapshot parser: the flat, document-ordered list of elements the locator healer scores.

Snapshots are taken at failure time, so they are often truncated or malformed: unclosed tags are closed
at the end of the document, stray end tags are ignored and the few end tags HTML lets authors omit (`<li>`,
`<p>`, `<td>` ...) are implied, much as a browser would.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from html import unescape
from typing import Any

from argus_streams.healing.budget import TICKS_PER_CHECK, Deadline, collector_paused

MAX_TEXT_CHARS = 200
# Elements read from a snapshot; nothing after the first start tag past them is read (parsing and scoring
# cost ~10-45 us an element in all, and a record has 100 ms of CPU). 3.5x the ~1,400 body nodes above which
# Lighthouse's DOM-size audit fails a page (developer.chrome.com/docs/lighthouse/performance/dom-size).
MAX_ELEMENTS = 5_000
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

    def __init__(self, elements: list[Element], cut: bool = False):
        super().__init__(elements)
        self.cut = cut  # the snapshot had more than MAX_ELEMENTS elements: the rest was not read
        self.selections: dict[str, tuple[int, ...]] = {}
        self._indexes: dict[str, dict[str, list[int]]] = {}

    def indexed(self, kind: str) -> dict[str, list[int]]:
        """The indices of the elements (in document order) by "tag", "id", "class", or by "attribute": the
        names of the attributes they have (id and class when not empty), as the matcher reads them."""
        found = self._indexes.get(kind)
        if found is None:
            found = self._indexes[kind] = {}
            for element in self:
                if kind == "tag":
                    keys: Iterable[str] = (element.tag,)
                elif kind == "id":
                    keys = () if element.id is None else (element.id,)
                elif kind == "class":
                    keys = dict.fromkeys(element.classes)
                else:
                    keys = (*(("id",) if element.id is not None else ()), *(("class",) if element.classes else ()),
                            *element.attributes)
                for key in keys:
                    found.setdefault(key, []).append(element.index)
        return found


# ------------------------------------------------------------------------------------------ tokenizer
#
# The tokenizer gives exactly what `html.parser.HTMLParser(convert_charrefs=True)` (CPython 3.11.7) gave the
# tree builder, fed the whole snapshot and closed: the same start tags, attributes, end tags and text runs.
# The well-formed tags and the text runs between them are read by one regular expression (_TOKEN); anything
# else (comments, declarations, tags with unusual syntax, incomplete markup) by `_markup`, a port of
# HTMLParser's own code for it, with its regular expressions. Each regular expression match is linear in
# what it reads (possessive quantifiers, no nested backtracking); the port keeps HTMLParser's behaviour on
# unterminated markup, which the Deadline bounds (a tick per token).

_WS = r"[ \t\n\r\f]"  # HTMLParser's tag-name terminators; other whitespace sends a tag to `_markup`
_ATTRIBUTE_NAME = r"[^\s/>=][^\s/=>]*"
_ATTRIBUTE_VALUE = r"'[^']*'|\"[^\"]*\"|[^\s'\"=>][^\s>]*"
# A start tag whose attributes are separated by whitespace and have at most one `=`: HTMLParser's tolerant
# patterns read these the very same way (names, values and the end); every other start tag goes to `_markup`.
_TOKEN = re.compile(
    r"([^<]+)"  # 1: text
    rf"|<([a-zA-Z][^\t\n\r\f />\x00]*+)"  # 2: start tag name
    rf"((?:{_WS}++{_ATTRIBUTE_NAME}(?:{_WS}*+={_WS}*+(?:{_ATTRIBUTE_VALUE}))?)*+){_WS}*+(/?)>"  # 3: attributes, 4: /
    r"|</\s*+([a-zA-Z][-.a-zA-Z0-9:_]*+)\s*+>"  # 5: end tag (HTMLParser's endtagfind)
    r"|<(?=[^a-zA-Z/!?])"  # a "<" that starts no markup: text
    r"|(<)")  # 6: any other markup, or a "<" at the end
_TOKEN_ATTRIBUTE = re.compile(rf"{_WS}++({_ATTRIBUTE_NAME})(?:{_WS}*+={_WS}*+({_ATTRIBUTE_VALUE}))?")
_RAW_TEXT_END = {tag: re.compile(rf"</\s*{tag}\s*>", re.IGNORECASE) for tag in ("script", "style")}

# HTMLParser's (3.11.7) and _markupbase's patterns, for `_markup`.
_STARTTAG_OPEN = re.compile("<[a-zA-Z]")
_TAGFIND = re.compile(r"([a-zA-Z][^\t\n\r\f />\x00]*)(?:\s|/(?!>))*")
_ATTRFIND = re.compile(
    r"((?<=['\"\s/])[^\s/>][^\s/=>]*)(\s*=+\s*"
    r"('[^']*'|\"[^\"]*\"|(?!['\"])[^>\s]*))?(?:\s|/(?!>))*")
_LOCATE_STARTTAG_END = re.compile(r"""
  <[a-zA-Z][^\t\n\r\f />\x00]*       # tag name
  (?:[\s/]*                          # optional whitespace before attribute name
    (?:(?<=['"\s/])[^\s/>][^\s/=>]*  # attribute name
      (?:\s*=+\s*                    # value indicator
        (?:'[^']*'                   # LITA-enclosed value
          |"[^"]*"                   # LIT-enclosed value
          |(?!['"])[^>\s]*           # bare value
         )
        \s*                          # possibly followed by a space
       )?(?:\s|/(?!>))*
     )*
   )?
  \s*                                # trailing whitespace
""", re.VERBOSE)
_ENDTAGFIND = re.compile(r"</\s*([a-zA-Z][-.a-zA-Z0-9:_]*)\s*>")
_COMMENT_CLOSE = re.compile(r"--\s*>")
_DECLNAME = re.compile(r"[a-zA-Z][-_.a-zA-Z0-9]*\s*")
_MARKED_SECTION_CLOSE = re.compile(r"]\s*]\s*>")
_MS_MARKED_SECTION_CLOSE = re.compile(r"]\s*>")
_START_TAG_LETTERS = frozenset("abcdefghijklmnopqrstuvwxyz=/ABCDEFGHIJKLMNOPQRSTUVWXYZ")


def collapse(text: str) -> str:
    """Whitespace runs as one space, stripped (str.split's whitespace is the same as the regex `\\s`)."""
    return " ".join(text.split())


_TEXT, _START, _SELF_CLOSING, _END = range(4)  # the kinds of the tokenizer's tokens
_Token = tuple[int, str, dict[str, str] | None]  # (kind, text or tag, attributes of a start tag)


class _Tokens(list[_Token]):
    """The tokens of a document, in order, and a tick per token on the deadline."""

    def __init__(self, deadline: Deadline | None) -> None:
        super().__init__()
        self.deadline = deadline
        self.cut = False  # a start tag past MAX_ELEMENTS ended the reading

    def add(self, kind: int, value: str, attributes: dict[str, str] | None = None) -> None:
        self.append((kind, value, attributes))
        if not len(self) % TICKS_PER_CHECK and self.deadline is not None:
            self.deadline.check()


def _unescape_value(value: str) -> str:
    if value[:1] in ("'", '"'):
        value = value[1:-1]
    return unescape(value) if "&" in value else value


def _tokenize(html: str, deadline: Deadline | None) -> _Tokens:
    """`html`'s start tags, end tags and text, as HTMLParser(convert_charrefs=True) reported them to its
    handlers when fed the whole of `html` and closed (text runs may be split differently), up to the first
    start tag past MAX_ELEMENTS: nothing after it is read."""
    tokens = _Tokens(deadline)
    append, check = tokens.append, TICKS_PER_CHECK - 1
    pos, n = 0, len(html)
    starts, max_elements = 0, MAX_ELEMENTS
    while pos < n:
        for token in _TOKEN.finditer(html, pos):
            text, tag, raw, slash, end_tag, other = token.groups()
            if tag is not None:
                starts += 1
                if starts > max_elements:
                    tokens.cut = True
                    return tokens
                tag = tag.lower()
                attributes = {name.lower(): _unescape_value(value) if value else ""
                              for name, value in _TOKEN_ATTRIBUTE.findall(raw)} if raw else None
                append((_SELF_CLOSING if slash else _START, tag, attributes))
                if not slash and tag in _RAW_TEXT_END:
                    pos = _raw_text(html, token.end(), tag, tokens)
                    break
            elif end_tag is not None:
                append((_END, end_tag.lower(), None))
            elif text is not None:
                append((_TEXT, unescape(text) if "&" in text else text, None))
            elif other is None:
                append((_TEXT, "<", None))
            else:
                before = len(tokens)
                pos = _markup(html, token.start(), tokens)
                for at in range(before, len(tokens)):
                    if tokens[at][0] != _TEXT and tokens[at][0] != _END:
                        starts += 1
                        if starts > max_elements:
                            del tokens[at:]
                            tokens.cut = True
                            return tokens
                break
            if not len(tokens) & check and deadline is not None:
                deadline.check()
        else:
            break
    return tokens


def _raw_text(html: str, pos: int, tag: str, tokens: _Tokens) -> int:
    """The raw text of a <script> or <style> and its end tag, from `pos`: the position after them."""
    while True:
        close = _RAW_TEXT_END[tag].search(html, pos)
        if close is None:
            return len(html)  # HTMLParser drops an unterminated raw text
        at = close.start()
        if pos < at:
            tokens.add(_TEXT, html[pos:at])
        name = _ENDTAGFIND.match(html, at)
        if name is not None and name.group(1).lower() == tag:
            tokens.add(_END, tag)
            return close.end()
        pos = html.find(">", at + 1) + 1  # "</ſcript>" (re.I matched it): still raw text
        tokens.add(_TEXT, html[at:pos])


def _build(tokens: _Tokens, deadline: Deadline | None) -> Elements:
    """The elements the tokens make: unclosed ones are closed at the end, stray end tags ignored and
    omitted end tags implied."""
    max_elements, max_depth = MAX_ELEMENTS, MAX_DEPTH
    fields: list[dict[str, Any]] = []  # the elements' fields (their text is set at the end)
    starts: list[int] = []  # each element's text: "".join(chunks)[starts[i]:ends[i]]
    ends: list[int] = []
    # The open elements, innermost last: [tag, fields, lineage, children so far].
    open_: list[list[Any]] = []
    open_tags: dict[str, int] = {}  # open elements by tag: a stray end tag is found without a scan
    of_type: dict[tuple[int, str], int] = {}  # (parent index or -1, tag) -> its children of that tag so far
    root_children = 0
    chunks: list[str] = []
    chars = 0  # characters in `chunks`
    check = TICKS_PER_CHECK - 1

    def close_top() -> None:
        tag, element, _, _ = open_.pop()
        ends[element["index"]] = chars
        element["last_descendant"] = len(fields) - 1
        open_tags[tag] -= 1

    for number, (kind, value, attributes) in enumerate(tokens):
        if not number & check and deadline is not None:
            deadline.check()
        if kind == _TEXT:
            if not (open_ and open_[-1][0] in _RAW_TEXT):
                chunks.append(value)
                chars += len(value)
        elif kind == _END:
            if len(fields) >= max_elements:
                continue  # past the cap, end tags may belong to elements that were never opened
            if not open_tags.get(value):
                continue  # A stray end tag (no matching open element) is ignored, as browsers do.
            while True:  # close the open element with this tag and every element opened after it
                tag, element, _, _ = open_.pop()
                ends[element["index"]] = chars
                element["last_descendant"] = len(fields) - 1
                open_tags[tag] -= 1
                if tag == value:
                    break
        elif len(fields) < max_elements:
            implied = _IMPLIED_END.get(value)
            if implied is not None:
                while open_ and open_[-1][0] in implied:
                    close_top()
            if len(open_) >= max_depth:
                close_top()
            if open_:
                parent = open_[-1]
                parent[3] += 1
                nth, parent_index, lineage = parent[3], parent[1]["index"], Lineage(value, parent[2])
                key = (parent_index, value)
            else:
                root_children += 1
                nth, parent_index, lineage = root_children, None, Lineage(value, None)
                key = (-1, value)
            nth_of_type = of_type[key] = of_type.get(key, 0) + 1
            if attributes:
                element_id = attributes.get("id") or None
                classes = tuple(attributes["class"].split()) if "class" in attributes else ()
                kept = {} if INTERESTING_ATTRIBUTES.isdisjoint(attributes) else {
                    name: text for name, text in attributes.items() if name in INTERESTING_ATTRIBUTES}
            else:
                element_id, classes, kept = None, (), {}
            element = {
                "tag": value, "id": element_id, "classes": classes, "text": "", "attributes": kept,
                "lineage": lineage, "index": len(fields), "parent": parent_index, "nth_child": nth,
                "nth_of_type": nth_of_type, "last_descendant": -1}
            fields.append(element)
            starts.append(chars)
            ends.append(chars)
            if kind == _SELF_CLOSING or value in VOID_ELEMENTS:
                element["last_descendant"] = len(fields) - 1  # opened and closed at once: no text, no children
            else:
                open_.append([value, element, lineage, 0])
                open_tags[value] = open_tags.get(value, 0) + 1
    while open_:
        close_top()
    text = "".join(chunks)
    elements: list[Element] = []
    append, new = elements.append, object.__new__
    for index, element in enumerate(fields):
        if not index & check and deadline is not None:
            deadline.check()
        start, end = starts[index], ends[index]
        if start != end:
            element["text"] = (" ".join(text[start:end].split())[:MAX_TEXT_CHARS] if end - start <= 2 * MAX_TEXT_CHARS
                               else _text_of(text, start, end))
        # Element's own __init__ (a frozen dataclass: a setattr call per field) was a third of the parse.
        instance = new(Element)
        instance.__dict__.update(element)
        append(instance)
    return Elements(elements, cut=tokens.cut)


def _markup(html: str, i: int, tokens: _Tokens) -> int:
    """HTMLParser.goahead's reading of the markup at `i` (a "<" that _TOKEN did not read), at the end of
    its input: the position after it."""
    n = len(html)
    if i + 1 >= n:
        tokens.add(_TEXT, "<")
        return n
    if _STARTTAG_OPEN.match(html, i):
        k = _parse_starttag(html, i, tokens)
    elif html.startswith("</", i):
        k = _parse_endtag(html, i, tokens)
    elif html.startswith("<!--", i):
        k = _parse_comment(html, i)
    elif html.startswith("<?", i):
        match = html.find(">", i + 2)
        k = -1 if match < 0 else match + 1
    else:  # "<!"
        k = _parse_html_declaration(html, i)
    if k < 0:  # unterminated: up to the next ">" (or "<") is text
        k = html.find(">", i + 1)
        if k < 0:
            k = html.find("<", i + 1)
            if k < 0:
                k = i + 1
        else:
            k += 1
        tokens.add(_TEXT, unescape(html[i:k]))
    return k


def _parse_starttag(html: str, i: int, tokens: _Tokens) -> int:
    endpos = _check_for_whole_start_tag(html, i)
    if endpos < 0:
        return endpos
    attributes: dict[str, str] = {}
    match = _TAGFIND.match(html, i + 1)
    assert match, "unexpected call to parse_starttag()"
    k = match.end()
    tag = match.group(1).lower()
    while k < endpos:
        found = _ATTRFIND.match(html, k)
        if not found:
            break
        name, rest, value = found.group(1, 2, 3)
        if not rest:
            value = None
        elif value[:1] == "'" == value[-1:] or value[:1] == '"' == value[-1:]:
            value = value[1:-1]
        if value:
            value = unescape(value)
        attributes[name.lower()] = value or ""
        k = found.end()
    rest_of_tag = html[k:endpos].strip()
    if rest_of_tag not in (">", "/>"):
        tokens.add(_TEXT, html[i:endpos])
        return endpos
    if rest_of_tag.endswith("/>"):
        tokens.add(_SELF_CLOSING, tag, attributes)
        return endpos
    tokens.add(_START, tag, attributes)
    return _raw_text(html, endpos, tag, tokens) if tag in _RAW_TEXT_END else endpos


def _check_for_whole_start_tag(html: str, i: int) -> int:
    match = _LOCATE_STARTTAG_END.match(html, i)
    assert match, "we should not get here!"
    j = match.end()
    following = html[j:j + 1]
    if following == ">":
        return j + 1
    if following == "/":
        if html.startswith("/>", j):
            return j + 2
        return -1  # a "/" at the end of the input
    if following == "" or following in _START_TAG_LETTERS:
        return -1
    return j if j > i else i + 1


def _parse_endtag(html: str, i: int, tokens: _Tokens) -> int:
    gt = html.find(">", i + 1)
    if gt < 0:
        return -1
    match = _ENDTAGFIND.match(html, i)
    if match:  # raw-text end tags are read by `_raw_text`
        tokens.add(_END, match.group(1).lower())
        return gt + 1
    name = _TAGFIND.match(html, i + 2)
    if not name:
        if html[i:i + 3] == "</>":
            return i + 3
        return _parse_bogus_comment(html, i)
    tokens.add(_END, name.group(1).lower())
    return html.find(">", name.end()) + 1


def _parse_comment(html: str, i: int) -> int:
    match = _COMMENT_CLOSE.search(html, i + 4)
    return match.end() if match else -1


def _parse_bogus_comment(html: str, i: int) -> int:
    pos = html.find(">", i + 2)
    return -1 if pos < 0 else pos + 1


def _parse_html_declaration(html: str, i: int) -> int:
    if html[i:i + 3] == "<![":
        return _parse_marked_section(html, i)
    if html[i:i + 9].lower() == "<!doctype":
        gt = html.find(">", i + 9)
        return -1 if gt < 0 else gt + 1
    return _parse_bogus_comment(html, i)


def _parse_marked_section(html: str, i: int) -> int:
    # _markupbase's _scan_name and parse_marked_section, which raise on what they cannot read.
    j = i + 3
    if j == len(html):
        return -1
    match = _DECLNAME.match(html, j)
    if not match:
        raise AssertionError(f"expected name token at {html[i:i + 20]!r}")
    if j + len(match.group()) == len(html):
        return -1
    name = match.group().strip().lower()
    if name in {"temp", "cdata", "ignore", "include", "rcdata"}:
        close = _MARKED_SECTION_CLOSE.search(html, i + 3)
    elif name in {"if", "else", "endif"}:
        close = _MS_MARKED_SECTION_CLOSE.search(html, i + 3)
    else:
        raise AssertionError(f"unknown status keyword {html[i + 3:match.end()]!r} in marked section")
    return close.end() if close else -1


def _text_of(text: str, start: int, end: int) -> str:
    # Only the first few hundred raw characters matter once the text is collapsed and truncated: a short
    # window first (enough unless the text is mostly whitespace), then the wide one.
    for window in (MAX_TEXT_CHARS * 2, _TEXT_WINDOW):
        collapsed = " ".join(text[start:min(end, start + window)].split())
        if len(collapsed) >= MAX_TEXT_CHARS or start + window >= end:
            break
    return collapsed[:MAX_TEXT_CHARS]


def parse_dom(html: str, deadline: Deadline | None = None) -> Elements:
    """Every element of `html` in document order; non-text input gives no elements. Raises only
    `HealingTimeout`, when `deadline` passes."""
    if not isinstance(html, str) or not html.strip():
        return Elements([])
    with collector_paused():
        return _build(_tokenize(html, deadline), deadline)


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
