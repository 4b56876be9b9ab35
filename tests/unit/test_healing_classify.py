"""Failure classification: realistic Playwright, Selenium, Cypress, pytest and Jest messages."""

from __future__ import annotations

import random
from typing import Any

import pytest
from argus_dev import samples

from argus_streams.healing.classify import HEALABLE_CLASSES, Classification, classify

PW_LOCATOR_CLICK_TIMEOUT = """locator.click: Timeout 30000ms exceeded.
Call log:
  - waiting for locator('#checkout')"""
PW_NOT_VISIBLE = """locator.click: Timeout 30000ms exceeded.
Call log:
  - waiting for locator('button.buy')
  - locator resolved to <button class="buy">Buy</button>
  - attempting click action
  - element is not visible
  - retrying click action"""
PW_INTERCEPTED = """locator.click: Timeout 5000ms exceeded.
Call log:
  - waiting for getByRole('button', { name: 'Save' })
  - <div class="overlay"></div> intercepts pointer events
  - retrying click action, attempt #2"""
PW_EXPECT_NOT_FOUND = """Error: Timed out 5000ms waiting for expect(locator).toBeVisible()

Locator: locator('[data-testid=cart-badge]')
Expected: visible
Received: <element(s) not found>"""
PW_EXPECT_TEXT = """Error: Timed out 5000ms waiting for expect(locator).toHaveText(expected)

Locator: locator('h1')
Expected string: "Welcome back"
Received string: "Welcome"
Call log:
  - waiting for locator('h1')
  -   locator resolved to <h1>Welcome</h1>"""
PW_PY_EXPECT_NOT_FOUND = """Locator expected to be visible
Actual value: <element(s) not found>
Call log:
  - LocatorAssertions.to_be_visible with timeout 5000ms
  - waiting for locator("#profile-menu")"""
JEST_TO_BE = """expect(received).toBe(expected) // Object.is equality

Expected: 42
Received: 41"""
PYTEST_ASSERT = """assert cart.total() == Decimal('59.90')
 +  where Decimal('49.90') = <bound method Cart.total of <Cart id=7>>()"""

CASES: list[tuple[str, str, str, str | None, str, bool]] = [
    # (case id, error_type, message, selector, expected class, healable)
    ("pw-locator-visible-timeout", "TimeoutError",
     "Timeout 30000ms exceeded while waiting for locator('#submit') to be visible", "#submit",
     "locator_not_found", True),
    ("pw-wait-for-selector-attached", "TimeoutError",
     "page.waitForSelector: Timeout 10000ms exceeded.\nCall log:\n  - waiting for locator('.toast') to be attached",
     ".toast", "locator_not_found", True),
    ("selenium-no-such-element", "selenium.common.exceptions.NoSuchElementException",
     'Message: no such element: Unable to locate element: {"method":"css selector","selector":"#login"}\n'
     "  (Session info: chrome=126.0.6478.126)", "#login", "locator_not_found", True),
    ("selenium-java-no-such-element", "org.openqa.selenium.NoSuchElementException",
     "Unable to locate element: //button[@id='pay']", "//button[@id='pay']", "locator_not_found", True),
    ("cypress-element-never-found", "AssertionError",
     "Timed out retrying after 4000ms: Expected to find element: `[data-cy=submit]`, but never found it.",
     "[data-cy=submit]", "locator_not_found", True),
    ("pw-expect-element-not-found", "Error", PW_EXPECT_NOT_FOUND, "[data-testid=cart-badge]",
     "locator_not_found", True),
    ("pw-python-expect-not-found", "AssertionError", PW_PY_EXPECT_NOT_FOUND, "#profile-menu",
     "locator_not_found", True),
    ("testing-library-role", "TestingLibraryElementError",
     'Unable to find an accessible element with the role "button" and name "Save"', None,
     "locator_not_found", True),
    ("puppeteer-no-node", "Error", "No node found for selector: #search-input", "#search-input",
     "locator_not_found", True),
    ("selenium-stale", "StaleElementReferenceException",
     "stale element reference: element is not attached to the page document\n  (Session info: chrome=126.0)",
     "button.primary", "stale_element", True),
    ("pw-detached", "Error", "elementHandle.click: Element is not attached to the DOM", None,
     "detached_node", True),
    ("cypress-detached", "CypressError",
     "Timed out retrying after 4050ms: cy.click() failed because this element is detached from the DOM.",
     ".row .delete", "detached_node", True),
    ("pw-strict-mode", "Error",
     "strict mode violation: locator('button.delete') resolved to 3 elements:\n"
     "    1) <button class=\"delete\">Delete</button> aka getByRole('button', { name: 'Delete' }).first()",
     "button.delete", "strict_mode_violation", True),
    ("cypress-single-element", "CypressError",
     "cy.click() can only be called on a single element. Your subject contained 4 elements.", "li.item",
     "strict_mode_violation", True),
    ("selenium-click-intercepted", "ElementClickInterceptedException",
     "element click intercepted: Element <button id=\"pay\">...</button> is not clickable at point (633, 412). "
     "Other element would receive the click: <div class=\"cookie-banner\">...</div>", "#pay",
     "element_not_interactable", True),
    ("selenium-not-interactable", "ElementNotInteractableException", "element not interactable", "#email",
     "element_not_interactable", True),
    ("pw-overlay-intercepts", "TimeoutError", PW_INTERCEPTED, None, "element_not_interactable", True),
    ("pw-not-visible", "TimeoutError", PW_NOT_VISIBLE, "button.buy", "element_not_interactable", True),
    ("cypress-covered", "CypressError",
     "cy.click() failed because this element:\n\n`<button#checkout>`\n\nis being covered by another element:"
     "\n\n`<div.modal-backdrop>`", "#checkout", "element_not_interactable", True),
    ("pw-click-timeout-with-selector", "TimeoutError", PW_LOCATOR_CLICK_TIMEOUT, "#checkout",
     "selector_timeout", True),
    ("pw-bare-timeout-with-selector", "TimeoutError", "Timeout 30000ms exceeded.", "[data-testid=save]",
     "selector_timeout", True),
    ("selenium-wait-visibility", "TimeoutException",
     "Expected condition failed: waiting for visibility of element located by By.cssSelector: #results "
     "(tried for 10 second(s) with 500 milliseconds interval)", None, "selector_timeout", True),
    ("puppeteer-wait-selector", "TimeoutError",
     "Waiting for selector `.spinner-done` failed: Waiting failed: 30000ms exceeded", None,
     "selector_timeout", True),
    ("cypress-content", "AssertionError",
     "Timed out retrying after 4000ms: Expected to find content: 'Order confirmed' but never did.", "#status",
     "assertion", False),
    ("cypress-not-to-find", "AssertionError",
     "Timed out retrying after 4000ms: Expected not to find element: `.spinner`, but it was continuously found.",
     ".spinner", "assertion", False),
    ("chai-equal", "AssertionError", "expected order total to equal 59.9 but got 49.9", None, "assertion", False),
    ("jest-to-be", "Error", JEST_TO_BE, None, "assertion", False),
    ("pw-to-have-text", "Error", PW_EXPECT_TEXT, "h1", "assertion", False),
    ("pytest-assert", "AssertionError", PYTEST_ASSERT, None, "assertion", False),
    ("junit-assert-equals", "org.opentest4j.AssertionFailedError", "expected: <3> but was: <2>", None,
     "assertion", False),
    ("requests-500", "HTTPError",
     "500 Server Error: Internal Server Error for url: https://app.example.com/api/cart?id=7", None,
     "server_error", False),
    ("cypress-request-502", "CypressError",
     "cy.request() failed on:\n\nhttps://app.example.com/api/orders\n\nThe response we received from your web "
     "server was:\n\n  > 502: Bad Gateway", None, "server_error", False),
    ("pw-response-503", "Error", "expect(response).toBeOK() failed: Response status: 503", None,
     "server_error", False),
    ("pw-goto-refused", "Error",
     "page.goto: net::ERR_CONNECTION_REFUSED at http://localhost:3000/login\nCall log:\n  - navigating to "
     "\"http://localhost:3000/login\", waiting until \"load\"", None, "network", False),
    ("node-econnrefused", "FetchError",
     "request to http://localhost:8080/api/health failed, reason: connect ECONNREFUSED 127.0.0.1:8080", None,
     "network", False),
    ("firefox-refused", "Error", "page.goto: NS_ERROR_CONNECTION_REFUSED", None, "network", False),
    ("navigation-timeout-no-locator", "TimeoutError", "page.goto: Timeout 30000ms exceeded.", None,
     "unknown", False),
    ("type-error", "TypeError", "Cannot read properties of undefined (reading 'map')", None, "unknown", False),
    ("empty", "", "", None, "unknown", False),
]


@pytest.mark.parametrize(("error_type", "message", "selector", "expected", "healable"),
                         [case[1:] for case in CASES], ids=[case[0] for case in CASES])
def test_classify_realistic_messages(error_type: str, message: str, selector: str | None, expected: str,
                                     healable: bool) -> None:
    details: dict[str, Any] = {"error_type": error_type, "message": message, "stack_trace": "", "url": "",
                               "browser": "chromium"}
    if selector is not None:
        details["selector"] = selector
    result = classify(details)
    assert (result.failure_class, result.healable) == (expected, healable), result.reason
    assert result.reason and len(result.reason) < 200


def test_every_class_is_covered() -> None:
    covered = {case[4] for case in CASES}
    assert covered >= HEALABLE_CLASSES | {"assertion", "server_error", "network", "unknown"}


def test_generic_timeout_depends_on_the_selector() -> None:
    message = "Timeout 30000ms exceeded."
    assert classify({"error_type": "TimeoutError", "message": message, "selector": "#a"}).healable
    assert classify({"error_type": "TimeoutError", "message": message}).failure_class == "unknown"
    assert classify({"error_type": "TimeoutError", "message": message, "selector": "  "}).failure_class == "unknown"


def test_reason_quotes_the_evidence() -> None:
    result = classify({"error_type": "Error", "message": "page.goto: net::ERR_NAME_NOT_RESOLVED at https://x"})
    assert result == Classification(False, "network", result.reason)
    assert "net::ERR_NAME_NOT_RESOLVED" in result.reason


@pytest.mark.parametrize("details", [None, 42, "boom", {}, {"message": None, "error_type": 3},
                                     {"message": ["a"], "selector": 5}])
def test_garbage_is_unknown_and_never_raises(details: Any) -> None:
    result = classify(details)
    assert result.failure_class == "unknown" and not result.healable


def test_sample_failures_classify_as_expected() -> None:
    # The shared sample templates, in `samples._FAILURE_TEMPLATES` order.
    expected = ["locator_not_found", "locator_not_found", "stale_element", "assertion", "strict_mode_violation",
                "server_error"]
    rng = random.Random(3)
    for kind, failure_class in enumerate(expected):
        assert classify(samples.failure_details(kind, kind, rng)).failure_class == failure_class
