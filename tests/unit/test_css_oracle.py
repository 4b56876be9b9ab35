"""The healer's CSS matcher against an independent engine: soupsieve (BeautifulSoup's CSS selector library)
on a BeautifulSoup tree of the same HTML. The healer otherwise grades itself: a CSS-semantics bug shared by
its matcher and the tests' checks would pass."""

from __future__ import annotations

import pytest
from bs4 import BeautifulSoup
from hypothesis import given, settings
from hypothesis import strategies as st

from argus_streams.healing import css, dom
from argus_streams.healing.locator import heal
from tests.unit.test_locator_healing import HEALED, details_for

# Well-formed trees (every element closed, no implied end tags), so both parsers build the same tree.
TAGS = ["div", "span", "b", "p", "section", "button", "a", "li"]
ATTRS = st.fixed_dictionaries({}, optional={
    "class": st.sampled_from(["a", "b", "a b", "btn primary", "a-b"]),
    "id": st.sampled_from(["x", "y", "submit", "x-1"]),
    "data-testid": st.sampled_from(["buy", "buy-now", "Buy", ""]),
    "name": st.sampled_from(["email", "q"]),
    "type": st.sampled_from(["button", "submit"]),
})
TREE = st.recursive(st.sampled_from(["", "x", "Buy now"]), lambda inner: st.builds(
    lambda tag, attrs, kids: "<{}{}>{}</{}>".format(
        tag, "".join(f' {k}="{v}"' for k, v in attrs.items()), "".join(kids), tag),
    st.sampled_from(TAGS), ATTRS, st.lists(inner, max_size=3)), max_leaves=20)
SIMPLE = st.sampled_from([
    "div", "span", "b", "p", "button", "*", ".a", ".b", ".btn.primary", "#x", "#submit", "div.a", "span.b",
    "[data-testid]", "[data-testid=buy]", '[data-testid="buy-now"]', "[data-testid^=buy]", "[data-testid$=now]",
    "[data-testid*=uy]", "[class~=a]", "[id|=x]", "[name=email]", "button[type=submit]",
    ":first-child", ":last-child", "li:nth-child(2)", "span:nth-of-type(2)", "div:not(.a)", "b:only-child",
])
SELECTOR = st.lists(SIMPLE, min_size=1, max_size=4).flatmap(lambda parts: st.lists(
    st.sampled_from([" ", " > ", " + ", " ~ "]), min_size=len(parts) - 1, max_size=len(parts) - 1).map(
    lambda joins: parts[0] + "".join(j + p for j, p in zip(joins, parts[1:], strict=True))))


def oracle(selector: str, html: str) -> list[int]:
    """Document-order positions of what soupsieve selects."""
    soup = BeautifulSoup(html, "html.parser")
    order = {id(node): n for n, node in enumerate(soup.find_all(True))}
    return sorted(order[id(node)] for node in soup.select(selector))


def supported(selector: str) -> bool:
    try:
        css.parse_selector(selector)
    except css.SelectorError:
        return False
    return True


@settings(max_examples=400, deadline=None, derandomize=True)
@given(html=TREE, selector=SELECTOR)
def test_the_matcher_selects_what_soupsieve_selects(html: str, selector: str) -> None:
    elements = dom.parse_dom(html)
    soup_tags = [node.name for node in BeautifulSoup(html, "html.parser").find_all(True)]
    assert [e.tag for e in elements] == soup_tags  # the same tree, so positions compare
    if not supported(selector):
        return  # a combinator or pseudo-class the healer does not read is refused, never misread
    assert [e.index for e in css.select(selector, elements)] == oracle(selector, html), selector


@pytest.mark.parametrize("case", HEALED, ids=[case.name for case in HEALED])
def test_every_healed_selector_selects_exactly_one_element_in_soupsieve(case) -> None:  # noqa: ANN001
    result = heal(details_for(case))
    assert result.selector == case.expected
    soup = BeautifulSoup(case.dom, "html.parser")
    # Playwright's :has-text("t") is a case-insensitive substring of the element's text: soupsieve's
    # :-soup-contains is a case-sensitive one, so the healer's text (copied from the element) must match.
    selector = result.selector.replace(":has-text(", ":-soup-contains(")
    assert len(soup.select(selector)) == 1, selector
