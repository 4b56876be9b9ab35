"""Which browser-test failures a locator healer can fix, from the error type and message alone.

Rules are tried in order and the first match wins. The order encodes precedence: infrastructure
failures (network, HTTP 5xx) first, because a page that did not load also "has no such element"; then
the specific locator failures; then assertions, so that Cypress's `AssertionError: Expected to find
element` (a locator failure) is not mistaken for a data assertion; last the generic timeouts, which are
only locator timeouts when a locator is named or the payload carries a selector.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from argus_streams.failures.signature import normalise_error_type

MAX_EVIDENCE_CHARS = 80
# Only the head of a message is classified: the decisive words come first (Playwright's call log follows),
# and every pattern below is linear on it with a bounded constant (no span longer than MAX_SPAN_CHARS).
MAX_MESSAGE_CHARS = 10_000
MAX_ERROR_TYPE_CHARS = 500
HEALABLE_CLASSES = frozenset({
    "locator_not_found", "stale_element", "selector_timeout", "detached_node", "strict_mode_violation",
    "element_not_interactable",
})


@dataclass(frozen=True)
class Classification:
    healable: bool
    failure_class: str
    reason: str


@dataclass(frozen=True)
class _Rule:
    failure_class: str
    pattern: re.Pattern[str]
    description: str


def _rule(failure_class: str, description: str, *alternatives: str) -> _Rule:
    return _Rule(failure_class, re.compile("|".join(alternatives), re.IGNORECASE | re.DOTALL), description)


_RULES = (
    _rule("network", "The browser could not reach the application under test",
          r"net::ERR_[A-Z_]+", r"\bE(?:CONNREFUSED|CONNRESET|NOTFOUND|AI_AGAIN|HOSTUNREACH|NETUNREACH)\b",
          r"\bE(?:SOCKET)?TIMEDOUT\b", r"Connection refused", r"Failed to establish a new connection",
          r"NewConnectionError", r"Name or service not known", r"getaddrinfo", r"socket hang up",
          r"NS_ERROR_(?:CONNECTION_REFUSED|NET_\w+|UNKNOWN_HOST)", r"Could not connect to (?:the )?server",
          r"Could not resolve host", r"^(?:ConnectionError|ConnectionRefusedError|ConnectionResetError):"),
    _rule("server_error", "The application under test answered with an HTTP 5xx error",
          r"\b(?:Internal Server Error|Bad Gateway|Service (?:Temporarily )?Unavailable|Gateway Time-?out)\b",
          r"\b(?:status(?: code)?|statusCode|HTTP(?:/\d(?:\.\d)?)?|response code|responded with)\W{0,3}5\d\d\b",
          r"\b5\d\d (?:Server )?Error\b"),
    _rule("stale_element", "The element reference went stale after the page re-rendered",
          r"stale element", r"StaleElementReference", r"element reference is stale"),
    _rule("detached_node", "The element was detached from the DOM before the action",
          r"not attached to the DOM", r"detached from the (?:DOM|document)", r"Element is not attached",
          r"element (?:was|has been) detached"),
    _rule("strict_mode_violation", "The locator matched several elements where exactly one was expected",
          r"strict mode violation", r"resolved to \d+ elements", r"can only be called on a single element",
          r"subject contained \d+ elements"),
    _rule("element_not_interactable", "The element was found but could not be interacted with",
          r"element not interactable", r"ElementNotInteractable", r"ElementClickIntercepted",
          r"element click intercepted", r"is not clickable", r"intercepts pointer events",
          r"other element would receive the click", r"covered by another element", r"pointer-events: none",
          r"element is \W?(?:not visible|not enabled|disabled|not editable|not stable|readonly)",
          r"ElementNotVisible", r"element not visible", r"InvalidElementState"),
    _rule("locator_not_found", "The locator matched no element on the page",
          r"no such element", r"NoSuchElement", r"Unable to locate element", r"(?:unable|failed) to find element",
          r"could not find element", r"cannot (?:find|locate) element", r"element\(s\) not found",
          r"No node found for selector", r"Expected to find element", r"did not match any elements",
          r"Unable to find an? (?:accessible )?element",
          r"waiting for (?:locator|selector|getBy\w+)\b[^\n]{0,300}?to be (?:visible|attached)"),
    _rule("assertion", "A test assertion on the page's data failed; the locator itself worked",
          r"Expected to find content", r"Expected not to find", r"\bexpect\([^\n]{0,1000}?\)\.(?:not\.)?to[A-Z]\w*",
          r"^(?:AssertionError|AssertionFailedError|ComparisonFailure|JestAssertionError)\b",
          r"\bexpected\b[^\n]{1,120}\bto (?:equal|be|have|contain|include|deep|match|exist|not)\b",
          r"\bassert\b[^\n]{1,1000}(?:==|!=| in | is )",
          r"Expected(?: value| string| substring)?:[^\n]{0,1000}\n\s{0,1000}Received",
          r"\bassert(?:Equals|That|True|False)\b", r"Assertion failed", r"expected \[[^\]]{0,1000}\] but found"),
)
_TIMEOUT = re.compile(
    r"Timeout \d+ ?ms exceeded|timed? ?out|TimeoutException|TimeoutError|Waiting failed|(?<!\d)\d+ ?ms exceeded",
    re.IGNORECASE)
_LOCATOR_MENTION = re.compile(
    r"waiting for (?:locator|selector|getBy)|\blocator\(|waitForSelector|Waiting for selector|"
    r"waiting for (?:visibility|presence|element)|located by|\bBy\.\w+", re.IGNORECASE)


def _text(value: Any, limit: int) -> str:
    """The field as text, cut to `limit` characters before any regex sees it; not text: nothing."""
    return value[:limit] if isinstance(value, str) else ""


def _evidence(match: re.Match[str]) -> str:
    return " ".join(match.group().split())[:MAX_EVIDENCE_CHARS]


def _result(failure_class: str, description: str, evidence: str = "") -> Classification:
    reason = f"{description} (matched {evidence!r})." if evidence else f"{description}."
    return Classification(failure_class in HEALABLE_CLASSES, failure_class, reason)


def classify(failure_details: Mapping[str, Any]) -> Classification:
    """Classify one `failure_details` payload; a payload that is not a mapping is `unknown`."""
    details: Mapping[str, Any] = failure_details if isinstance(failure_details, Mapping) else {}
    # `selenium.common.exceptions.NoSuchElementException` reads as `NoSuchElementException: <message>`.
    error_type = _text(details.get("error_type"), MAX_ERROR_TYPE_CHARS)
    text = f"{normalise_error_type(error_type)}: {_text(details.get('message'), MAX_MESSAGE_CHARS)}"
    for rule in _RULES:
        if match := rule.pattern.search(text):
            return _result(rule.failure_class, rule.description, _evidence(match))
    timeout = _TIMEOUT.search(text)
    if timeout:
        mention = _LOCATOR_MENTION.search(text)
        if mention or _text(details.get("selector"), MAX_MESSAGE_CHARS).strip():
            return _result("selector_timeout", "Timed out waiting for the locator to match an actionable element",
                           _evidence(mention or timeout))
        return _result("unknown", "A timeout not tied to any locator (page load, network or test timeout)",
                       _evidence(timeout))
    return _result("unknown", "No known failure pattern matched")
