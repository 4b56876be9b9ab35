"""What a failed selector says about its target: CSS, Playwright engines and locator calls, simple XPath.

Only the last compound of a selector is the target; the tags of the earlier compounds are kept as
ancestor hints. Positional parts (`:nth-child(3)`) are dropped: they are what breaks when a sibling is
inserted, so they are no evidence of which element was meant.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from argus_streams.healing.css import MAX_SELECTOR_CHARS, Compound, SelectorError, parse_selector, unquote
from argus_streams.healing.dom import collapse

_WORDS = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|\d+")
_API_CALL = re.compile(r"^(?:page\.|cy\.|this\.page\.)?(locator|getBy\w+|get|find)\((.*)\)\s*$", re.DOTALL)
_QUOTED = re.compile(r"\"((?:\\.|[^\"\\])*)\"|'((?:\\.|[^'\\])*)'|`([^`]*)`")
_ROLE = re.compile(r"^\s*([-\w]+)\s*(.*)$", re.DOTALL)
_NAME_OPTION = re.compile(r"\bname\s*:\s*(?:\"((?:\\.|[^\"\\])*)\"|'((?:\\.|[^'\\])*)')")
_XPATH_PREDICATE = re.compile(
    r"@([-\w:]+)\s*=\s*[\"']([^\"']*)[\"']"
    r"|contains\(\s*@([-\w:]+)\s*,\s*[\"']([^\"']*)[\"']\s*\)"
    r"|(?:text\(\)|normalize-space\(\s*(?:text\(\))?\s*\)|\.)\s*=\s*[\"']([^\"']*)[\"']"
    r"|contains\(\s*(?:text\(\)|\.|normalize-space\(\s*\))\s*,\s*[\"']([^\"']*)[\"']\s*\)")
_TEST_ID_ENGINES = {"data-testid": "data-testid", "data-test-id": "data-testid", "testid": "data-testid",
                    "data-test": "data-test", "data-cy": "data-cy"}


@dataclass(frozen=True)
class Fingerprint:
    """The traits of the element a test meant; any may be missing. `partial_path` marks ancestor hints."""

    tag: str | None = None
    id: str | None = None
    classes: tuple[str, ...] = ()
    text: str | None = None
    attributes: dict[str, str] = field(default_factory=dict, hash=False)
    path: tuple[str, ...] = ()
    partial_path: bool = False

    @property
    def is_empty(self) -> bool:
        return not (self.tag or self.id or self.classes or self.text or self.attributes)


def tokens(value: str) -> set[str]:
    """The words of an identifier or label: `loginSubmit-btn_2` -> {login, submit, btn, 2}."""
    return {word.lower() for word in _WORDS.findall(value)}


def _first_string(arguments: str) -> str:
    match = _QUOTED.search(arguments)
    return re.sub(r"\\(.)", r"\1", next(group for group in match.groups() if group is not None)) if match else ""


def _from_compound(compound: Compound, hints: tuple[str, ...]) -> Fingerprint:
    attributes: dict[str, str] = {}
    element_id, classes = compound.id, list(compound.classes)
    for name, operator, value in compound.attributes:
        if not operator or not value:
            continue
        if name == "id":
            element_id = value
        elif name == "class":
            classes += value.split()
        else:
            attributes[name] = value
    tag = compound.tag if compound.tag != "*" else None
    return Fingerprint(tag=tag, id=element_id, classes=tuple(classes), text=compound.text or None,
                       attributes=attributes, path=hints, partial_path=True)


def _from_css(selector: str) -> Fingerprint:
    try:
        steps = parse_selector(selector)
    except SelectorError:
        return Fingerprint()
    hints = tuple(step.compound.tag for step in steps[:-1] if step.compound.tag not in (None, "*"))
    return _from_compound(steps[-1].compound, tuple(tag for tag in hints if tag))


def _from_role(expression: str) -> Fingerprint:
    """`button[name="Save"]` (role engine) or `'button', { name: 'Save' }` (getByRole arguments)."""
    if expression.lstrip()[:1] in "\"'`":
        role = _first_string(expression)
        name_match = _NAME_OPTION.search(expression)
        name = next((g for g in name_match.groups() if g is not None), "") if name_match else ""
    else:
        role_match = _ROLE.match(expression)
        role, rest = (role_match[1], role_match[2]) if role_match else ("", "")
        name_attr = re.search(r"\[\s*name\s*=\s*(\"(?:\\.|[^\"\\])*\"|'(?:\\.|[^'\\])*'|[^\]\s]+)", rest)
        name = unquote(name_attr[1]) if name_attr else ""
    attributes = {"role": role.lower()} if role else {}
    return Fingerprint(text=collapse(name) or None, attributes=attributes)


def _literal(value: str) -> str:
    """A Playwright string literal: `"Sign in"i` (case flag), `'x'` or bare text."""
    value = value.strip()
    if len(value) > 2 and value[-1] in "is" and value[-2] in "\"'" and value[0] == value[-2]:
        value = value[:-1]
    return unquote(value)


def _from_text(expression: str) -> Fingerprint:
    value = expression.strip()
    if len(value) > 1 and value.startswith("/"):  # a regular expression: keep its literal words
        value = re.sub(r"[\\^$.*+?()[\]{}|]", " ", re.sub(r"/[a-z]*$", "", value[1:]))
        return Fingerprint(text=collapse(value) or None)
    return Fingerprint(text=collapse(_literal(value)) or None)


def _from_xpath(expression: str) -> Fingerprint:
    steps = [step for step in re.split(r"/+", expression.strip("()")) if step and step not in (".", "..")]
    if not steps:
        return Fingerprint()
    last = steps[-1]
    tag_match = re.match(r"[-\w]+", last)
    attributes: dict[str, str] = {}
    element_id, classes, text = None, (), None
    for match in _XPATH_PREDICATE.finditer(last):
        name, value = (match[1], match[2]) if match[1] else (match[3], match[4])
        if name == "id":
            element_id = value
        elif name == "class":
            classes = tuple(value.split())
        elif name:
            attributes[name.lower()] = value
        else:
            text = collapse(match[5] if match[5] is not None else match[6] or "")
    hints = tuple(m.group() for step in steps[:-1] if (m := re.match(r"[-\w]+", step)) and m.group() != "node")
    return Fingerprint(tag=tag_match.group().lower() if tag_match else None, id=element_id, classes=classes,
                       text=text or None, attributes=attributes, path=hints, partial_path=True)


def _from_call(function: str, arguments: str) -> Fingerprint:
    value = _first_string(arguments)
    if function == "getByRole":
        return _from_role(arguments)
    if function in ("getByText", "getByTitle", "getByAltText"):
        return Fingerprint(text=collapse(value) or None)
    if function == "getByTestId":
        return Fingerprint(attributes={"data-testid": value})
    if function == "getByPlaceholder":
        return Fingerprint(attributes={"placeholder": value})
    if function == "getByLabel":
        return Fingerprint(attributes={"aria-label": value})
    return fingerprint_from_selector(value) if value else Fingerprint()


def fingerprint_from_selector(selector: str) -> Fingerprint:
    """The target traits a selector states; an empty fingerprint when it says nothing usable."""
    if not isinstance(selector, str) or len(selector) > MAX_SELECTOR_CHARS:  # capped before any regex
        return Fingerprint()
    expression = selector.strip()
    if ">>" in expression:  # a Playwright chain: the last part is the element itself
        expression = expression.rsplit(">>", 1)[-1].strip()
    expression = expression.removeprefix("internal:")
    if call := _API_CALL.match(expression):
        return _from_call(call[1], call[2])
    if expression.startswith(("/", "(/", "./")):
        return _from_xpath(expression)
    engine, separator, rest = expression.partition("=")
    engine = engine.strip().lower()
    if separator and engine == "text":
        return _from_text(rest)
    if separator and engine == "role":
        return _from_role(rest)
    if separator and engine == "id":
        return Fingerprint(id=_literal(rest))
    if separator and engine in _TEST_ID_ENGINES:
        if rest.strip().startswith("["):  # internal:testid=[data-testid="x"s]
            return _from_css(rest.strip())
        return Fingerprint(attributes={_TEST_ID_ENGINES[engine]: _literal(rest)})
    if separator and engine == "xpath":
        return _from_xpath(rest)
    if separator and engine == "css":
        return _from_css(rest)
    return _from_css(expression)
