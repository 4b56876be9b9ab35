"""A small CSS (+ Playwright `:has-text`) selector parser and matcher, and the stable-selector generator.

The matcher covers what the healer generates and what tests commonly write: tag, `*`, `#id`, `.class`,
`[attr]`, `[attr=v]` (also `~= ^= $= *= |=`), `:has-text("t")`, `:text-is("t")`, `:nth-of-type(n)`,
`:nth-child(n)` and the descendant / child combinators. Other pseudo-classes are ignored, sibling
combinators are read as descendant ones and only the first selector of a list (`a, b`) is used.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from functools import lru_cache

from argus_streams.errors import BadData
from argus_streams.healing.budget import Deadline, tick
from argus_streams.healing.dom import Element, Elements, collapse

TEST_ID_ATTRIBUTES = ("data-testid", "data-test", "data-cy")
LABEL_ATTRIBUTES = ("name", "aria-label", "placeholder", "alt", "title")  # human-chosen; tried after ids
MAX_TEXT_SELECTOR_CHARS = 60  # longer texts are content, not labels: too likely to change
MAX_CLASSES_IN_SELECTOR = 3
_BUTTON_INPUT_TYPES = frozenset({"submit", "button", "reset"})
# Selectors come from event data: longer ones are refused before any regex or cache sees them (test
# selectors are < 200 characters; the parse cache holds 2,048 of them, so its memory is bounded too).
MAX_SELECTOR_CHARS = 1_000
# Matching costs (compounds x elements): more compounds than this is not a locator anyone wrote.
MAX_SELECTOR_STEPS = 64
# A structural path longer than this is no stable selector (real pages are < 50 deep); the healer gives up.
MAX_PATH_STEPS = 32
MAX_CACHED_SELECTIONS = 512  # per parsed document: the healer matches a handful of selectors per candidate

_NAME = re.compile(r"(?:\\.|[-\w\u00a0-\uffff])+")
_TAG = re.compile(r"\*|[A-Za-z][-\w]*")
_ATTRIBUTE = re.compile(
    r"\[\s*([-\w:.]+)\s*(?:([~|^$*]?=)\s*(\"(?:\\.|[^\"\\])*\"|'(?:\\.|[^'\\])*'|[^\]\s]+))?\s*(?:[iIsS]\s*)?\]")
_PSEUDO = re.compile(r"::?([-\w]+)")
_LABEL_TEXT = re.compile(r"[^\W\d_]{2,}")  # a word: texts like "12.00" are data that changes, not labels
_CSS_IDENT = re.compile(r"-?[A-Za-z_][-\w]*")
_GENERATED_ID = re.compile(
    r"\d{3,}|^:r[0-9a-z]*:$|^(?:ember|ext-gen|yui_|mui-|headlessui-|radix-|react-select-|rc-|__next)"
    r"|(?<![0-9a-z])(?=[0-9a-f]*\d)[0-9a-f]{6,}(?![0-9a-z])", re.IGNORECASE)
_CSS_MODULE = re.compile(r"^(?P<stem>[A-Za-z][\w-]*_[\w-]+)__[\w-]{4,}$|^(?P<stem2>.+?)__(?=[\w-]*\d)[\w-]{4,}$")
_GENERATED_CLASS = re.compile(
    r"^(?:css|sc|jsx|emotion|svelte|tw)-[\w-]*\d|\d{3,}|(?<![0-9a-z])(?=[0-9a-f]*\d)[0-9a-f]{6,}(?![0-9a-z])",
    re.IGNORECASE)


class SelectorError(BadData):
    """The selector is not in the supported subset."""


@dataclass(frozen=True)
class Compound:
    tag: str | None = None
    id: str | None = None
    classes: tuple[str, ...] = ()
    attributes: tuple[tuple[str, str, str], ...] = ()  # (name, operator, value); operator "" means presence
    text: str | None = None
    text_exact: bool = False
    nth_of_type: int | None = None
    nth_child: int | None = None


@dataclass(frozen=True)
class Step:
    combinator: str  # "" for the first compound, " " (descendant) or ">" (child) for the others
    compound: Compound


def unquote(value: str) -> str:
    value = value.strip()
    if len(value) >= 2 and value[0] in "\"'" and value[-1] == value[0]:
        value = value[1:-1]
    return re.sub(r"\\(.)", r"\1", value)


def quote(value: str) -> str:
    escaped = value.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'


def _arguments(selector: str, pos: int) -> tuple[str, int]:
    """The text between the parenthesis at `pos` and its match (quotes respected), and the position after."""
    depth, quote_char, start = 0, "", pos + 1
    for cursor in range(pos, len(selector)):
        char = selector[cursor]
        if quote_char:
            if char == "\\":
                continue
            if char == quote_char and selector[cursor - 1] != "\\":
                quote_char = ""
        elif char in "\"'":
            quote_char = char
        elif char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
            if depth == 0:
                return selector[start:cursor], cursor + 1
    raise SelectorError(f"unbalanced parenthesis in {selector!r}")


# Pseudo-classes about the live page (Playwright's :visible among them) that a snapshot cannot decide.
_STATE_PSEUDO_CLASSES = frozenset({
    "visible", "hover", "focus", "focus-visible", "focus-within", "active", "enabled", "disabled", "checked",
    "visited", "link",
})


def _text_argument(argument: str) -> str:
    # Playwright allows a case flag after the closing quote: :has-text("Buy"i).
    argument = argument.strip()
    if len(argument) > 2 and argument[-1] in "is" and argument[-2] in "\"'":
        argument = argument[:-1]
    return collapse(unquote(argument))


def _with_pseudo(compound: Compound, name: str, argument: str | None) -> Compound:
    name = name.lower()
    if name in ("has-text", "text") and argument is not None:
        return replace(compound, text=_text_argument(argument), text_exact=False)
    if name == "text-is" and argument is not None:
        return replace(compound, text=_text_argument(argument), text_exact=True)
    if name == "nth-of-type" and argument is not None and argument.strip().isdigit():
        return replace(compound, nth_of_type=int(argument.strip()))
    if name == "nth-child" and argument is not None and argument.strip().isdigit():
        return replace(compound, nth_child=int(argument.strip()))
    if name in _STATE_PSEUDO_CLASSES:
        return compound  # a page's live state, not in a snapshot: they do not narrow the match here
    # Anything else (:first-child, :not(..), :nth-child(2n+1) ...) was ignored before, so `div:not(.a)` matched
    # every div (found against soupsieve): refused, never misread.
    raise SelectorError(f"pseudo-class :{name} is not supported")


def _simple(selector: str, pos: int, compound: Compound) -> tuple[Compound, int]:
    """Read one simple selector (tag, #id, .class, [attr], :pseudo) at `pos` into `compound`."""
    char = selector[pos]
    if char in "#.":
        match = _NAME.match(selector, pos + 1)
        if not match:
            raise SelectorError(f"empty {char} at {pos} in {selector!r}")
        name = unquote(match.group())
        if char == "#":
            return replace(compound, id=name), match.end()
        return replace(compound, classes=(*compound.classes, name)), match.end()
    if char == "[":
        match = _ATTRIBUTE.match(selector, pos)
        if not match:
            raise SelectorError(f"malformed attribute at {pos} in {selector!r}")
        attribute = (match[1].lower(), match[2] or "", unquote(match[3] or ""))
        return replace(compound, attributes=(*compound.attributes, attribute)), match.end()
    if char == ":":
        match = _PSEUDO.match(selector, pos)
        if not match:
            raise SelectorError(f"malformed pseudo-class at {pos} in {selector!r}")
        argument, end = None, match.end()
        if end < len(selector) and selector[end] == "(":
            argument, end = _arguments(selector, end)
        return _with_pseudo(compound, match[1], argument), end
    match = _TAG.match(selector, pos)
    if not match or compound != Compound():
        raise SelectorError(f"unexpected {char!r} at {pos} in {selector!r}")
    return replace(compound, tag=match.group().lower()), match.end()


def parse_selector(selector: str) -> tuple[Step, ...]:
    """The compounds of a CSS selector, left to right; raises `SelectorError` outside the supported subset."""
    if not isinstance(selector, str):
        raise SelectorError(f"a selector is text, not {type(selector).__name__}")
    if len(selector) > MAX_SELECTOR_CHARS:
        raise SelectorError(f"selector longer than {MAX_SELECTOR_CHARS} characters")
    return _parse_selector(selector)


@lru_cache(maxsize=2048)
def _parse_selector(selector: str) -> tuple[Step, ...]:
    steps: list[Step] = []
    combinator, compound, pos = "", None, 0
    while pos < len(selector):
        char = selector[pos]
        if char == ",":
            break
        if char in "+~":  # read as a descendant before: `a + b` matched every b inside an a (found by soupsieve)
            raise SelectorError(f"sibling combinator {char!r} at {pos} in {selector!r} is not supported")
        if char.isspace() or char == ">":
            if compound is not None:
                steps.append(Step(combinator, compound))
                if len(steps) >= MAX_SELECTOR_STEPS:
                    raise SelectorError(f"more than {MAX_SELECTOR_STEPS} compounds in {selector[:80]!r}...")
                compound, combinator = None, " "
            if char == ">":
                combinator = ">"
            pos += 1
            continue
        compound, pos = _simple(selector, pos, compound or Compound())
    if compound is not None:
        steps.append(Step(combinator, compound))
    if not steps:
        raise SelectorError(f"empty selector {selector!r}")
    return tuple(steps)


def _attribute_value(element: Element, name: str) -> str | None:
    if name == "id":
        return element.id
    if name == "class":
        return " ".join(element.classes) if element.classes else None
    return element.attributes.get(name)


def _attribute_matches(operator: str, actual: str, expected: str) -> bool:
    checks = {
        "": lambda: True, "=": lambda: actual == expected, "~=": lambda: expected in actual.split(),
        "^=": lambda: bool(expected) and actual.startswith(expected),
        "$=": lambda: bool(expected) and actual.endswith(expected),
        "*=": lambda: bool(expected) and expected in actual,
        "|=": lambda: actual == expected or actual.startswith(f"{expected}-"),
    }
    return checks.get(operator, lambda: False)()


def compound_matches(compound: Compound, element: Element) -> bool:
    if compound.tag not in (None, "*", element.tag):
        return False
    if compound.id is not None and compound.id != element.id:
        return False
    if any(name not in element.classes for name in compound.classes):
        return False
    for name, operator, value in compound.attributes:
        actual = _attribute_value(element, name)
        if actual is None or not _attribute_matches(operator, actual, value):
            return False
    if compound.text is not None:
        if compound.text_exact and element.text != compound.text:
            return False
        if not compound.text_exact and compound.text.lower() not in element.text.lower():
            return False
    if compound.nth_of_type is not None and compound.nth_of_type != element.nth_of_type:
        return False
    return compound.nth_child is None or compound.nth_child == element.nth_child


def _selection(steps: tuple[Step, ...], elements: list[Element], deadline: Deadline | None) -> tuple[int, ...]:
    """The indices of the elements `steps` select, in one pass per compound (elements are in document order,
    parents first): `prefix[i]` says whether the compounds so far match a chain ending at element i, and
    `below[i]` whether one of i's proper ancestors ends such a chain. O(compounds x elements), where matching
    each element by recursing over its ancestors is exponential in the number of descendant combinators."""
    count = len(elements)
    prefix = [True] * count
    for position, step in enumerate(steps):
        current, below = [False] * count, [False] * count
        for element in elements:
            tick(deadline)
            index, parent = element.index, element.parent
            if position == 0:
                chained = True
            elif step.combinator == ">":
                chained = parent is not None and prefix[parent]
            else:
                chained = parent is not None and (prefix[parent] or below[parent])
                below[index] = chained
            current[index] = chained and compound_matches(step.compound, element)
        prefix = current
        if not any(prefix):
            return ()
    return tuple(index for index, hit in enumerate(prefix) if hit)


def _pool(compound: Compound, elements: Elements) -> list[int] | None:
    """The elements `compound` may match (the fewest that its tag, id, a class or an attribute name allow),
    None for all of them."""
    pools = []
    if compound.tag not in (None, "*"):
        pools.append(elements.indexed("tag").get(compound.tag, []))
    if compound.id is not None:
        pools.append(elements.indexed("id").get(compound.id, []))
    pools += [elements.indexed("class").get(name, []) for name in compound.classes]
    pools += [elements.indexed("attribute").get(name, []) for name, _, _ in compound.attributes]
    return min(pools, key=len) if pools else None


def _indexed_selection(steps: tuple[Step, ...], elements: Elements, deadline: Deadline | None
                       ) -> tuple[int, ...]:
    """`_selection` of parse_dom's elements, whose subtrees are ranges of indices (`last_descendant`): each
    compound is matched only against the elements the document's indexes allow, and a descendant combinator
    is one sweep over those and the previous compound's matches. The same indices, in the same order."""
    found: list[int] = []
    for position, step in enumerate(steps):
        compound, previous, found = step.compound, found, []
        pool = _pool(compound, elements)
        candidates = range(len(elements)) if pool is None else pool
        if position == 0:
            for index in candidates:
                tick(deadline)
                if compound_matches(compound, elements[index]):
                    found.append(index)
        elif step.combinator == ">":
            parents = set(previous)
            for index in candidates:
                tick(deadline)
                parent = elements[index].parent
                if parent is not None and parent in parents and compound_matches(compound, elements[index]):
                    found.append(index)
        else:  # the candidates inside the subtree of a previous match (a proper ancestor)
            ends: list[int] = []  # last descendants of the previous matches around the current index, nested
            following, count = 0, len(previous)
            for index in candidates:
                tick(deadline)
                while following < count and previous[following] < index:
                    ancestor = previous[following]
                    while ends and ends[-1] < ancestor:
                        ends.pop()
                    ends.append(elements[ancestor].last_descendant)
                    following += 1
                while ends and ends[-1] < index:
                    ends.pop()
                if ends and compound_matches(compound, elements[index]):
                    found.append(index)
        if not found:
            return ()
    return tuple(found)


def selected(selector: str, all_elements: list[Element], deadline: Deadline | None = None) -> tuple[int, ...]:
    """The indices of the elements `selector` selects (none outside the supported subset); `all_elements`
    is `parse_dom`'s list, whose selections are remembered."""
    cache = all_elements.selections if isinstance(all_elements, Elements) else None
    if cache is not None and isinstance(selector, str) and selector in cache:
        return cache[selector]
    try:
        steps = parse_selector(selector)
    except SelectorError:
        found: tuple[int, ...] = ()
    else:
        if cache is None and any(element.index != position for position, element in enumerate(all_elements)):
            raise ValueError("all_elements must be parse_dom's list (elements[i].index == i)")
        found = (_indexed_selection(steps, all_elements, deadline) if isinstance(all_elements, Elements)
                 else _selection(steps, all_elements, deadline))
    if cache is not None and isinstance(selector, str) and len(cache) < MAX_CACHED_SELECTIONS:
        cache[selector] = found
    return found


def matches(selector: str, element: Element, all_elements: list[Element], deadline: Deadline | None = None) -> bool:
    """Whether `selector` selects `element`; False for a selector outside the supported subset."""
    return element.index in selected(selector, all_elements, deadline)


def select(selector: str, all_elements: list[Element], deadline: Deadline | None = None) -> list[Element]:
    return [all_elements[index] for index in selected(selector, all_elements, deadline)]


def is_generated_id(value: str) -> bool:
    """Ids that frameworks generate (`:r1:`, `ember123`, hashes, long digit runs) change between builds."""
    return bool(_GENERATED_ID.search(value))


def is_generated_class(value: str) -> bool:
    return bool(_GENERATED_CLASS.search(value) or _CSS_MODULE.match(value))


def class_stem(value: str) -> str:
    """A CSS-modules class without its build hash: `Button_primary__3xYz` -> `Button_primary`."""
    match = _CSS_MODULE.match(value)
    return (match["stem"] or match["stem2"]) if match else value


def attribute_selector(name: str, value: str, tag: str = "") -> str:
    shown = value if _CSS_IDENT.fullmatch(value) else quote(value)
    return f"{tag}[{name}={shown}]"


def _stable_anchor(element: Element) -> list[str]:
    """Selectors that name the element by a value someone chose on purpose: test ids, then a stable id."""
    found = [attribute_selector(name, element.attributes[name]) for name in TEST_ID_ATTRIBUTES
             if element.attributes.get(name)]
    if element.id and not is_generated_id(element.id) and _CSS_IDENT.fullmatch(element.id):
        found.append(f"#{element.id}")
    return found


def _preferred(element: Element) -> list[str]:
    found = _stable_anchor(element)
    found += [attribute_selector(name, element.attributes[name], element.tag) for name in LABEL_ATTRIBUTES
              if element.attributes.get(name)]
    classes = [name for name in element.classes if not is_generated_class(name) and _CSS_IDENT.fullmatch(name)]
    found += [f"{element.tag}.{name}" for name in classes]
    if len(classes) > 1:
        found.append(element.tag + "".join(f".{name}" for name in classes[:MAX_CLASSES_IN_SELECTOR]))
    if _LABEL_TEXT.search(element.text) and len(element.text) <= MAX_TEXT_SELECTOR_CHARS:
        found.append(f"{element.tag}:has-text({quote(element.text)})")
    input_type = element.attributes.get("type", "")
    if element.tag == "input" and input_type in _BUTTON_INPUT_TYPES and element.attributes.get("value"):
        found.append(attribute_selector("value", element.attributes["value"], element.tag))  # the button's label
    if input_type:
        found.append(attribute_selector("type", input_type, element.tag))
    return found


def is_unique(selector: str, element: Element, all_elements: list[Element], deadline: Deadline | None = None
              ) -> bool:
    return selected(selector, all_elements, deadline) == (element.index,)


def _path_selector(element: Element, all_elements: list[Element], deadline: Deadline | None) -> str | None:
    """The shortest unique `tag:nth-of-type(k) > ...` chain, cut at a stably named ancestor if one comes first;
    None when no chain of MAX_PATH_STEPS steps is unique."""
    of_type: dict[tuple[int | None, str], int] = {}
    for other in all_elements:
        of_type[(other.parent, other.tag)] = of_type.get((other.parent, other.tag), 0) + 1
    steps: list[str] = []
    node = element
    while len(steps) < MAX_PATH_STEPS:
        alone = of_type.get((node.parent, node.tag), 1) == 1
        steps.append(node.tag if alone else f"{node.tag}:nth-of-type({node.nth_of_type})")
        chain = " > ".join(reversed(steps))
        if node.parent is None or is_unique(chain, element, all_elements, deadline):
            return chain
        node = all_elements[node.parent]
        anchor = next((s for s in _stable_anchor(node) if is_unique(s, node, all_elements, deadline)), None)
        if anchor:
            return f"{anchor} > {chain}"
    return None


def selector_for(element: Element, all_elements: list[Element], deadline: Deadline | None = None) -> str | None:
    """The most stable selector that selects `element` and nothing else in `all_elements`.

    Order: test ids, a non-generated id, `tag[name|aria-label|placeholder|alt|title=..]`, `tag.class...`
    (build-hashed classes skipped), `tag:has-text("..")`, `input[value=..]` of input buttons, `tag[type=..]`,
    and last a structural `:nth-of-type` path; None when even that path would be longer than MAX_PATH_STEPS.
    """
    for candidate in _preferred(element):
        if is_unique(candidate, element, all_elements, deadline):
            return candidate
    return _path_selector(element, all_elements, deadline)
