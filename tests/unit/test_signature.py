"""The signature corpus: each group is one root cause seen several times with different volatile parts.

Every member of a group must share one signature; no two groups may share one.
"""

from __future__ import annotations

import itertools

import pytest

from argus_streams.failures.signature import (
    DEFAULT_FRAMES,
    MAX_SCAN_CHARS,
    SIGNATURE_VERSION,
    compute,
    first_line,
    normalise_error_type,
    normalise_message,
    signature_id,
    stack_frames,
)

PW_STACK = """    at LoginPage.submit (/home/runner/work/app/tests/pages/login.page.ts:{l1}:17)
    at Context.<anonymous> (/home/runner/work/app/tests/e2e/login.spec.ts:{l2}:5)"""
PY_STACK = """Traceback (most recent call last):
  File "/home/{user}/app/tests/e2e/test_checkout.py", line {l1}, in test_pay
    page.click(sel)
  File "/home/{user}/app/.venv/lib/python3.11/site-packages/playwright/_impl/_page.py", line {l2}, in click
    return await self._main_frame.click(**locals_to_params(locals()))
"""
JAVA_STACK = """org.openqa.selenium.NoSuchElementException: no such element
    at org.openqa.selenium.remote.RemoteWebDriver.findElement(RemoteWebDriver.java:{l1})
    at com.acme.tests.CartTest.addsItem(CartTest.java:{l2})"""
CY_STACK = """    at Context.eval (webpack:///./cypress/e2e/cart.cy.js:{l1}:8)
    at getRet (https://app.example.com/__cypress/runner/cypress_runner.js:{l2}:16)"""
JEST_STACK = """    at Object.<anonymous> (/builds/{user}/web/src/components/__tests__/Price.test.tsx:{l1}:23)
    at processTicksAndRejections (node:internal/process/task_queues:{l2}:5)"""


def f(error_type: str, message: str, stack: str = "", selector: str | None = None, **fill: object) -> dict:
    values = {"l1": 10, "l2": 20, "user": "runner", **fill}
    return {"error_type": error_type, "message": message, "stack_trace": stack.format(**values),
            "selector": selector}


CORPUS: dict[str, list[dict]] = {
    "pw-timeout-submit": [
        f("TimeoutError", "Timeout 30000ms exceeded.\n=========================== logs ===",
          PW_STACK, "#submit"),
        f("TimeoutError", "Timeout 5000ms exceeded.", PW_STACK, "#submit", l1=42, l2=99),
        f("playwright._impl._errors.TimeoutError", "Timeout 10000ms exceeded.", PW_STACK, " #submit ", l1=7),
    ],
    "pw-timeout-email": [
        f("TimeoutError", "Timeout 30000ms exceeded.", PW_STACK, "input[name=email]"),
        f("TimeoutError", "Timeout 15000ms exceeded.", PW_STACK, "input[name=email]", l2=3),
    ],
    "pw-strict": [
        f("Error", "strict mode violation: locator('button.buy') resolved to 3 elements", PW_STACK),
        f("Error", "strict mode violation: locator('button.buy') resolved to 12 elements", PW_STACK, l1=11),
    ],
    "pw-detached": [
        f("Error", "Element is not attached to the DOM (frame 0x7f3a2c1b9e40)", PY_STACK),
        f("Error", "Element is not attached to the DOM (frame 0x55d1aa00ff12)", PY_STACK, l1=77, user="ci"),
    ],
    "pw-navigation": [
        f("Error", "page.goto: net::ERR_CONNECTION_REFUSED at https://staging.example.com/login?next=%2Fcart&t=171",
          PY_STACK),
        f("Error", "page.goto: net::ERR_CONNECTION_REFUSED at https://staging.example.com/login?next=%2Fhome",
          PY_STACK, l2=400),
    ],
    "selenium-nosuch": [
        f("NoSuchElementException", 'no such element: Unable to locate element: {"method":"css selector",'
          '"selector":"#cart-add"}\n  (Session info: chrome=120.0.6099.109)', JAVA_STACK),
        f("org.openqa.selenium.NoSuchElementException", 'no such element: Unable to locate element: '
          '{"method":"css selector","selector":"#cart-add"}\n  (Session info: chrome=121.0.1)', JAVA_STACK,
          l1=501, l2=33),
    ],
    "selenium-stale": [
        f("StaleElementReferenceException", "stale element reference: element is not attached to the page "
          "document (session 7c9e6679-7425-40de-944b-e07fc1f90ae7)", JAVA_STACK),
        f("StaleElementReferenceException", "stale element reference: element is not attached to the page "
          "document (session 16fd2706-8baf-433b-82eb-8c7fada847da)", JAVA_STACK, l2=80),
    ],
    "selenium-timeout": [
        f("TimeoutException", "Expected condition failed: waiting for visibility of element located by "
          "By.id: checkout (tried for 10 second(s) with 500 milliseconds interval)", JAVA_STACK),
        f("TimeoutException", "Expected condition failed: waiting for visibility of element located by "
          "By.id: checkout (tried for 30 second(s) with 250 milliseconds interval)", JAVA_STACK, l1=2),
    ],
    "cypress-contains": [
        f("AssertionError", "Timed out retrying after 4000ms: Expected to find content: 'Order #10234 "
          "confirmed' but never did.", CY_STACK),
        f("AssertionError", "Timed out retrying after 10000ms: Expected to find content: 'Order #99812 "
          "confirmed' but never did.", CY_STACK, l1=31, l2=140000),
    ],
    "cypress-get": [
        f("CypressError", "Timed out retrying after 4000ms: Expected to find element: `[data-cy=total]`, but "
          "never found it.", CY_STACK),
        f("CypressError", "Timed out retrying after 6000ms: Expected to find element: `[data-cy=total]`, but "
          "never found it.", CY_STACK, l1=5),
    ],
    "pytest-assert-total": [
        f("AssertionError", "assert 1299 == 1300\n +  where 1299 = total(cart)", PY_STACK),
        f("AssertionError", "assert 45.5 == 45.0", PY_STACK, l1=12, user="builder"),
    ],
    "pytest-keyerror": [
        f("KeyError", "'order_id'", PY_STACK),
        f("KeyError", "'order_id'", PY_STACK, l1=300, l2=1),
    ],
    "pytest-http-500": [
        f("HTTPError", "500 Server Error: Internal Server Error for url: https://api.example.com/v2/orders/8812"
          "?expand=items", PY_STACK),
        f("HTTPError", "500 Server Error: Internal Server Error for url: https://api.example.com/v2/orders/17"
          "?expand=items&trace=ab12", PY_STACK, l1=8),
    ],
    "pytest-http-404": [
        f("HTTPError", "404 Client Error: Not Found for url: https://api.example.com/v2/orders/8812", PY_STACK),
        f("HTTPError", "404 Client Error: Not Found for url: https://api.example.com/v2/orders/1", PY_STACK),
    ],
    "pytest-file": [
        f("FileNotFoundError", "[Errno 2] No such file or directory: '/tmp/pytest-of-runner/pytest-41/"
          "test_export0/report.csv'", PY_STACK),
        f("FileNotFoundError", "[Errno 2] No such file or directory: '/tmp/pytest-of-ci/pytest-7/"
          "test_export1/report.csv'", PY_STACK, user="ci"),
    ],
    "pytest-timestamp": [
        f("ValueError", "token expired at 2026-11-27T10:15:02.123Z (now 2026-11-27T10:15:09Z)", PY_STACK),
        f("ValueError", "token expired at 2026-10-01 08:00:00+00:00 (now 2026-10-01 08:01:12+00:00)", PY_STACK),
    ],
    "jest-price": [
        f("Error", "expect(received).toBe(expected) // Object.is equality\n\nExpected: \"$19.99\"\nReceived: "
          "\"$18.99\"", JEST_STACK),
        f("Error", "expect(received).toBe(expected) // Object.is equality\n\nExpected: \"$5.00\"", JEST_STACK,
          l1=90, user="other"),
    ],
    "jest-undefined": [
        f("TypeError", "Cannot read properties of undefined (reading 'map')", JEST_STACK),
        f("TypeError", "Cannot read properties of undefined (reading 'map')", JEST_STACK, l1=3, l2=95),
    ],
    "jest-hash": [
        f("Error", "snapshot mismatch for component build a3f9c2e1d4b5", JEST_STACK),
        f("Error", "snapshot mismatch for component build 0d1e2f3a4b5c6d7e", JEST_STACK),
    ],
    "node-econnreset": [
        f("Error", "connect ECONNREFUSED 127.0.0.1:5432", JEST_STACK),
        f("Error", "connect ECONNREFUSED 10.1.4.22:5433", JEST_STACK, l2=61),
    ],
}

# Same message, different place in the code: a different root cause.
OTHER_PLACE = f("TypeError", "Cannot read properties of undefined (reading 'map')",
                "    at renderList (/builds/x/web/src/components/List.tsx:3:9)")


def test_corpus_has_at_least_40_realistic_messages() -> None:
    assert sum(len(group) for group in CORPUS.values()) >= 40


@pytest.mark.parametrize("name", list(CORPUS))
def test_same_root_cause_gives_one_signature(name: str) -> None:
    ids = {compute(details).id for details in CORPUS[name]}
    assert len(ids) == 1, [compute(d).canonical for d in CORPUS[name]]


def test_different_root_causes_never_share_a_signature() -> None:
    first = {name: compute(group[0]).id for name, group in CORPUS.items()}
    for (a, id_a), (b, id_b) in itertools.combinations(first.items(), 2):
        assert id_a != id_b, (a, b)
    assert compute(OTHER_PLACE).id != first["jest-undefined"]


def test_signature_is_versioned_and_stable() -> None:
    sig = compute(CORPUS["pytest-keyerror"][0])
    assert sig.id.startswith(f"{SIGNATURE_VERSION}:")
    assert sig.id == compute(dict(CORPUS["pytest-keyerror"][0])).id


# Every stored Failure node, fix-cache key and SQL result is keyed by these ids. A change to hashing or
# normalisation that keeps the groups intact would still split all of them after a deploy: it must come
# with a SIGNATURE_VERSION bump (and a migration note in the README), and then these values change.
GOLDEN = {
    'pw-timeout-submit': 'v1:2f718effc1747a1a88e5672c',
    'pw-timeout-email': 'v1:dbd0ae15d059987b7366907e',
    'pw-strict': 'v1:8ddd66e5ea624b40885ff0a2',
    'pw-detached': 'v1:605fe55ad7fea6ae92e57f9c',
    'pw-navigation': 'v1:7526da2fc13fa16e0de8eeb2',
    'selenium-nosuch': 'v1:8d81a2880c23fa7a0737ac60',
    'selenium-stale': 'v1:084247579e023dfeafe55d2e',
    'selenium-timeout': 'v1:47b5faf93281e8ad27410621',
    'cypress-contains': 'v1:ec8696f5f77306318af9bc82',
    'cypress-get': 'v1:c4edeaeeadf9170751fc2052',
    'pytest-assert-total': 'v1:7d90a0d97976858fe4a866b4',
    'pytest-keyerror': 'v1:6e626d05a362290060edb43d',
    'pytest-http-500': 'v1:52f025a8f3ff6d94d06b0e10',
    'pytest-http-404': 'v1:32e5d7038dc553f946925fae',
    'pytest-file': 'v1:96a2e1df52a3b9979d677849',
    'pytest-timestamp': 'v1:c1abd9fc90295acfe90ab1e6',
    'jest-price': 'v1:6109a39c0f144248bec86c35',
    'jest-undefined': 'v1:521b310c7fc053de93d0269b',
    'jest-hash': 'v1:fe382ea6c8e02d8977ff0c27',
    'node-econnreset': 'v1:b846d271d99db23ca836e16f',
}


def test_signature_ids_are_pinned() -> None:
    assert SIGNATURE_VERSION == "v1"
    assert {name: compute(group[0]).id for name, group in CORPUS.items()} == GOLDEN


def test_python_frames_are_innermost_first_without_line_numbers() -> None:
    frames = stack_frames(PY_STACK.format(l1=1, l2=2, user="u"))
    assert frames == ("_impl/_page:click", "e2e/test_checkout:test_pay")


def test_java_and_js_frames() -> None:
    assert stack_frames(JAVA_STACK.format(l1=1, l2=2)) == ("RemoteWebDriver:findElement", "CartTest:addsItem")
    assert stack_frames(PW_STACK.format(l1=1, l2=2))[0] == "pages/login:LoginPage.submit"


@pytest.mark.parametrize(
    ("raw", "masked"),
    [
        ("id 7c9e6679-7425-40de-944b-e07fc1f90ae7 failed", "id <uuid> failed"),
        ("at 2026-11-27T10:15:02Z", "at <ts>"),
        ("GET https://x.io/a/b?c=1&d=2 failed", "GET https://x.io/a/b?<q> failed"),
        ("wrote /tmp/tmpa1b2c3/out.json", "wrote <tmp>"),
        ("ptr 0xdeadBEEF", "ptr <hex>"),
        ("expected 'user-42' got 'user-43'", "expected <str> got <str>"),
        ("took 1500 ms", "took <n> ms"),
    ],
)
def test_masks(raw: str, masked: str) -> None:
    assert normalise_message(raw) == masked


# Rules the mutation pass (`make mutation`) showed no test held to; each expected value is derived by hand
# from the rule it names, not by running the code.
def test_a_uuid_of_letters_only_is_masked() -> None:  # the uuid mask is tried when the text has a "-"
    assert normalise_message("Element aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee not found") == "Element <uuid> not found"


def test_first_line_keeps_exactly_the_scan_limit() -> None:
    assert first_line("x" * 3_000) == "x" * MAX_SCAN_CHARS
    assert first_line("  abc\ndef") == "abc"


def test_an_empty_error_type_is_error() -> None:
    assert normalise_error_type("") == "Error" and normalise_error_type("   ") == "Error"
    assert normalise_error_type("selenium.common.exceptions.NoSuchElementException") == "NoSuchElementException"


def test_frames_of_each_kind_as_module_and_function() -> None:
    java = "java.lang.IllegalStateException: boom\n\tat Checkout.pay(Checkout.java:42)\n\tat Runner.main(Runner.java:7)"
    assert stack_frames(java) == ("Checkout:pay", "Runner:main")  # a class without a package
    assert stack_frames("Error: x\n    at /app/src/checkout.js:10:5") == ("src/checkout:<anonymous>",)
    assert stack_frames("    at load (http://cdn.test/static/app.js?v=1/2:10:5)") == ("static/app:load",)  # no query
    assert stack_frames("tests/e2e/checkout.spec.ts:testPay") == ("e2e/checkout:testPay",)


def test_at_most_the_innermost_frames_are_kept() -> None:
    trace = "Error: x\n" + "\n".join(f"    at f{n} (/app/src/m{n}.js:1:1)" for n in range(7))
    assert stack_frames(trace) == tuple(f"src/m{n}:f{n}" for n in range(DEFAULT_FRAMES))
    assert compute({"error_type": "E", "stack_trace": trace}, frames=2).frames == ("src/m0:f0", "src/m1:f1")


def test_a_payload_without_fields_has_the_default_signature() -> None:
    signature = compute({})
    assert (signature.error_type, signature.message, signature.frames, signature.selector) == ("Error", "", (), None)
    assert signature.canonical == "Error\n"


def test_the_sql_udf_form_is_the_same_id() -> None:
    details = {"error_type": "TimeoutError", "message": "Timeout 30000ms exceeded", "stack_trace": "x.py:f",
               "selector": " #pay  now "}
    assert signature_id("TimeoutError", "Timeout 30000ms exceeded", "x.py:f", " #pay  now ") == compute(details).id
    assert compute(details).selector == "#pay now"
