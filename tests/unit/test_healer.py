"""The healer's strategy chain: locator first, the LLM (local Claude stand-in) only when the locator fails."""

from __future__ import annotations

import asyncio

from argus_dev.samples import PAGE_AFTER_UI_CHANGE, locator_failure

from argus_streams.contract.events import EventType
from argus_streams.healing import decisions
from argus_streams.healing.healer import answer
from argus_streams.healing.llm import LLMSettings
from tests.llm_standin import ClaudeStandIn, Delay, Text

# The button is gone from the DOM: the locator cannot heal, the LLM proposes a selector.
NO_MATCH = "<!doctype html><html><body><main><div role='button' aria-label='Buy'>Buy</div></main></body></html>"


def request_for(dom: str):  # noqa: ANN201
    failure = decisions.examine_failure(locator_failure("acme", "t1", "#place-order", dom, seed=7))
    assert isinstance(failure, decisions.Failure)
    request = decisions.on_failure(decisions.TestHealingState(), failure, None, now_ms=0)
    assert request is not None and request.event_type is EventType.HEALING_REQUESTED
    return request


def settings_for(claude: ClaudeStandIn, timeout_s: float = 2.0) -> LLMSettings:
    return LLMSettings(base_url=claude.base_url, api_key=claude.api_key, timeout_s=timeout_s, retry_backoff_s=0.05)


def test_locator_heals_without_asking_the_llm() -> None:
    with ClaudeStandIn([]) as claude:
        completed = asyncio.run(answer(request_for(PAGE_AFTER_UI_CHANGE), None, settings_for(claude)))
    assert completed.payload["status"] == "healed" and completed.payload["fix"]["strategy"] == "locator"
    assert claude.requests == []


def test_llm_heals_what_the_locator_cannot() -> None:
    good = Text('{"selector": "[aria-label=Buy]", "confidence": 0.7, "reason": "same action, new markup"}')
    request = request_for(NO_MATCH)
    with ClaudeStandIn([good]) as claude:
        completed = asyncio.run(answer(request, None, settings_for(claude)))
    assert completed.payload["status"] == "healed"
    assert completed.payload["fix"] == {"selector": "[aria-label=Buy]", "strategy": "llm", "confidence": 0.7}
    assert completed.correlation_id == request.correlation_id and len(claude.requests) == 1


def test_a_slow_or_bad_llm_is_an_unhealable_answer_with_reasons() -> None:
    for behaviour in (Text("I think it is the buy button."), Delay(5, Text("{}"))):
        with ClaudeStandIn([behaviour]) as claude:
            completed = asyncio.run(answer(request_for(NO_MATCH), None, settings_for(claude, timeout_s=0.5)))
        payload = completed.payload
        assert payload["status"] == "unhealable" and "fix" not in payload
        assert "locator:" in payload["reason"] and "llm:" in payload["reason"]


def test_without_llm_settings_the_locator_reason_is_given() -> None:
    completed = asyncio.run(answer(request_for(NO_MATCH), None, None))
    assert completed.payload["status"] == "unhealable" and completed.payload["reason"].startswith("locator:")


def test_an_llm_selector_heals_only_if_it_selects_exactly_one_element_of_the_snapshot() -> None:
    """The model's answer is text about a page it was shown: checked against that page before it is a fix."""
    two = "<html><body><main><button class='buy'>Buy</button><button class='buy'>Buy now</button></main></body></html>"
    cases = [
        (NO_MATCH, "#checkout-button", "it selects 0 elements of the DOM snapshot, not exactly one"),
        (two, ".buy", "it selects 2 elements of the DOM snapshot, not exactly one"),
        (NO_MATCH, "text=Buy", "it is not a CSS selector the healer can check"),  # a Playwright engine, not CSS
    ]
    for dom, selector, why in cases:
        reply = Text(f'{{"selector": "{selector}", "confidence": 0.9, "reason": "looks right"}}')
        with ClaudeStandIn([reply]) as claude:
            completed = asyncio.run(answer(request_for(dom), None, settings_for(claude)))
        payload = completed.payload
        assert payload["status"] == "unhealable" and "fix" not in payload, payload
        assert f"llm: proposed {selector!r}, but {why}" in payload["reason"], payload["reason"]
