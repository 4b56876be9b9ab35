"""Deterministic, realistic sample events (demo, tests and benchmarks share them)."""

from __future__ import annotations

import random
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from argus_streams.contract.events import ArgusEvent, EventType

BASE_TIME = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)

_FAILURE_TEMPLATES = [
    ("TimeoutError", "Timeout {ms}ms exceeded while waiting for locator('{sel}') to be visible",
     ["playwright/_impl/_locator.py:wait_for", "tests/e2e/{mod}.py:test_{fn}", "tests/e2e/pages/{mod}_page.py:open"]),
    ("NoSuchElementException", "Message: no such element: Unable to locate element: "
     '{{"method":"css selector","selector":"{sel}"}}',
     ["selenium/webdriver/remote/errorhandler.py:check_response", "tests/ui/{mod}_test.py:test_{fn}"]),
    ("StaleElementReferenceException", "stale element reference: element is not attached to the page document "
     "(session {uuid})", ["selenium/webdriver/remote/webelement.py:click", "tests/ui/{mod}_test.py:test_{fn}"]),
    ("AssertionError", "expected order total to equal {n} but got {n2}",
     ["tests/api/{mod}_test.py:test_{fn}", "tests/api/helpers.py:assert_total"]),
    ("Error", "strict mode violation: locator('{sel}') resolved to {n} elements",
     ["playwright/_impl/_connection.py:send", "tests/e2e/{mod}.spec.ts:{fn}"]),
    ("HTTPError", "500 Server Error: Internal Server Error for url: https://app.example.com/api/{mod}?id={n}",
     ["requests/models.py:raise_for_status", "tests/api/{mod}_test.py:test_{fn}"]),
]
_MODULES = ["checkout", "login", "cart", "search", "profile", "billing", "orders", "catalog", "admin", "reports"]
_SELECTORS = ["#submit", "button.primary", "[data-testid=add-to-cart]", "input[name=email]", ".modal .close",
              "#nav > li:nth-child(3)", "text=Sign in", "form#login button[type=submit]"]


def _stack_trace(frames: list[str], rng: random.Random) -> str:
    lines = ["Traceback (most recent call last):"]
    for frame in frames:
        path, func = frame.rsplit(":", 1)
        lines.append(f'  File "/home/runner/work/app/{path}", line {rng.randint(10, 900)}, in {func}')
        lines.append(f"    {func}()")
    return "\n".join(lines)


def failure_details(kind: int, variant: int, rng: random.Random, pad_to: int = 0) -> dict[str, Any]:
    """A failure of root cause (kind, variant) with fresh volatile parts (ids, times, line numbers)."""
    error_type, message, frames = _FAILURE_TEMPLATES[kind % len(_FAILURE_TEMPLATES)]
    mod = _MODULES[variant % len(_MODULES)]
    fn = f"{mod}_{variant}"
    sel = _SELECTORS[variant % len(_SELECTORS)] + ("" if variant < len(_SELECTORS) else f".v{variant}")
    fill = {"ms": rng.choice([5000, 10000, 30000]), "sel": sel, "mod": mod, "fn": fn,
            "uuid": uuid.UUID(int=rng.getrandbits(128), version=4), "n": rng.randint(2, 999),
            "n2": rng.randint(1000, 9999)}
    details: dict[str, Any] = {
        "error_type": error_type,
        "message": message.format(**fill),
        "stack_trace": _stack_trace([f.format(**fill) for f in frames], rng),
        "url": f"https://app.example.com/{mod}?session={rng.getrandbits(64):x}",
        "browser": rng.choice(["chromium", "firefox", "webkit"]),
    }
    if "{sel}" in message:
        details["selector"] = sel
    if pad_to:
        details["dom_snapshot"] = "<html><body>" + "x" * max(0, pad_to - 600) + "</body></html>"
    return details


def failed_event(
    rng: random.Random, *, tenant: str, suite: str, test: str, signature_id: int, run: int,
    when: datetime | None = None, pad_to: int = 0,
) -> ArgusEvent:
    kind, variant = divmod(signature_id, 1000)
    return ArgusEvent(
        event_id=str(uuid.UUID(int=rng.getrandbits(128), version=4)),
        event_type=EventType.TEST_FAILED,
        timestamp=when or BASE_TIME + timedelta(seconds=run),
        source="browser-worker",
        tenant_id=tenant,
        correlation_id=str(uuid.UUID(int=rng.getrandbits(128), version=4)),
        payload={
            "test_id": test, "test_suite_id": suite, "project_id": f"{tenant}-web",
            "run_id": f"run-{run}", "build_id": f"build-{run // 10}",
            "failure_details": failure_details(kind, variant, rng, pad_to),
        },
    )


def executed_event(
    rng: random.Random, *, tenant: str, suite: str, test: str, run: int, status: str,
    when: datetime | None = None,
) -> ArgusEvent:
    return ArgusEvent(
        event_id=str(uuid.UUID(int=rng.getrandbits(128), version=4)),
        event_type=EventType.TEST_EXECUTED,
        timestamp=when or BASE_TIME + timedelta(seconds=run),
        source="browser-worker",
        tenant_id=tenant,
        correlation_id=str(uuid.UUID(int=rng.getrandbits(128), version=4)),
        payload={
            "test_id": test, "test_suite_id": suite, "project_id": f"{tenant}-web",
            "run_id": f"run-{run}", "build_id": f"build-{run // 10}", "status": status,
            "duration_ms": rng.randint(200, 20_000),
        },
    )


def demo_stream(seed: int = 7) -> list[ArgusEvent]:
    """One event of each of the 7 business types, for two tenants: what the demo publishes and reads back."""
    rng = random.Random(seed)
    events: list[ArgusEvent] = []
    for tenant in ("acme", "globex"):
        project = f"{tenant}-web"
        events += [
            ArgusEvent.new(EventType.CODEBASE_INGESTED, source="api.codebases", tenant_id=tenant,
                           payload={"project_id": project, "codebase_path": f"file:///srv/{project}"}),
            ArgusEvent.new(EventType.CODEBASE_ANALYZED, source="cognee-worker", tenant_id=tenant,
                           payload={"project_id": project, "files": 12, "entities": 40, "edges": 77,
                                    "parse_errors": 0, "duration_ms": 812.5}),
            ArgusEvent.new(EventType.TEST_CREATED, source="api.tests", tenant_id=tenant,
                           payload={"test_id": "t-login", "test_name": "login works", "test_type": "e2e",
                                    "project_id": project, "test_suite_id": "smoke", "test_spec": {"steps": 3}}),
            executed_event(rng, tenant=tenant, suite="smoke", test="t-login", run=1, status="passed"),
            failed_event(rng, tenant=tenant, suite="smoke", test="t-login", signature_id=0, run=2),
        ]
        failed = events[-1]
        events += [
            ArgusEvent.new(EventType.HEALING_REQUESTED, source="healing-decider", tenant_id=tenant,
                           correlation_id=failed.correlation_id,
                           payload={"test_id": "t-login", "test_suite_id": "smoke", "signature": "demo",
                                    "failure_details": failed.payload["failure_details"]}),
            ArgusEvent.new(EventType.HEALING_COMPLETED, source="healer", tenant_id=tenant,
                           correlation_id=failed.correlation_id,
                           payload={"test_id": "t-login", "signature": "demo", "status": "healed",
                                    "source": "healer",
                                    "fix": {"selector": "[data-testid=submit]", "strategy": "locator",
                                            "confidence": 0.92}}),
        ]
    return events


# A checkout page after a UI change: the button the tests knew as #place-order is now #place-order-btn.
PAGE_AFTER_UI_CHANGE = (
    "<!doctype html><html><body><header><a href='/'>Home</a></header><main>"
    "<button id='place-order-btn'>Place order</button><button id='cancel-order'>Cancel</button>"
    "</main></body></html>"
)


def locator_failure(tenant: str, test: str, selector: str, dom: str, seed: int) -> ArgusEvent:
    """A Playwright locator timeout with the page's DOM snapshot: what the healer can heal."""
    event = failed_event(random.Random(seed), tenant=tenant, suite="checkout", test=test, signature_id=0, run=seed)
    details = {"error_type": "TimeoutError", "selector": selector, "dom_snapshot": dom, "stack_trace": "",
               "message": f"Timeout 30000ms exceeded while waiting for locator('{selector}') to be visible"}
    return event.model_copy(update={"payload": {**event.payload, "failure_details": details}})
