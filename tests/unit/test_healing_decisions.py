"""The healing decision without Flink: cache hits, one request while in flight, answers, outcomes."""

from __future__ import annotations

import random

from argus_streams.events import EventType
from argus_streams.healing import decisions
from argus_streams.samples import failed_event

HEALABLE = {"error_type": "TimeoutError", "selector": "#place-order", "stack_trace": "",
            "message": "Timeout 30000ms exceeded while waiting for locator('#place-order') to be visible"}


def failure(rng: random.Random, details: dict | None = None, test: str = "t1"):  # noqa: ANN201
    event = failed_event(rng, tenant="acme", suite="s", test=test, signature_id=0, run=rng.randint(0, 999))
    event = event.model_copy(update={"payload": {**event.payload, "failure_details": details or HEALABLE}})
    verdict = decisions.examine_failure(event)
    assert isinstance(verdict, decisions.Failure)
    return verdict


def test_non_healable_failures_are_not_sent() -> None:
    event = failed_event(random.Random(1), tenant="a", suite="s", test="t", signature_id=3000, run=1)  # AssertionError
    assert decisions.examine_failure(event) == "assertion"


def test_one_request_while_in_flight_then_again_after_expiry() -> None:
    rng, state = random.Random(2), decisions.TestHealingState()
    first = decisions.on_failure(state, failure(rng), None, now_ms=1000)
    assert first is not None and first.event_type is EventType.HEALING_REQUESTED
    assert all(decisions.on_failure(state, failure(rng), None, now_ms=1000 + i) is None for i in range(1000))
    later = decisions.on_failure(state, failure(rng), None, now_ms=1000 + decisions.IN_FLIGHT_TIMEOUT_MS + 1)
    assert later is not None and later.event_type is EventType.HEALING_REQUESTED


def test_request_keeps_the_correlation_id_and_a_replay_keeps_its_id() -> None:
    rng = random.Random(3)
    cause = failure(rng)
    request = decisions.on_failure(decisions.TestHealingState(), cause, None, now_ms=0)
    replay = decisions.on_failure(decisions.TestHealingState(), cause, None, now_ms=0)
    assert request and replay and request.event_id == replay.event_id
    assert request.correlation_id == cause.event.correlation_id
    assert request.payload["cache_key"] == cause.key and request.payload["signature"] == cause.signature


def test_cache_hit_answers_with_the_fix_and_its_success_rate() -> None:
    rng, state = random.Random(4), decisions.TestHealingState()
    cached = {"selector": "#place-order-btn", "strategy": "locator", "confidence": 0.8,
              "success_count": 3, "failure_count": 1}
    answer = decisions.on_failure(state, failure(rng), cached, now_ms=0)
    assert answer is not None and answer.event_type is EventType.HEALING_COMPLETED
    assert answer.payload["source"] == "cache" and answer.payload["success_rate"] == 0.75
    assert answer.payload["fix"] == {"selector": "#place-order-btn", "strategy": "locator", "confidence": 0.8}


def test_healed_answer_is_cached_for_seven_days_and_clears_the_in_flight_mark() -> None:
    rng, state = random.Random(5), decisions.TestHealingState()
    cause = failure(rng)
    request = decisions.on_failure(state, cause, None, now_ms=0)
    assert request is not None
    completed = decisions.derived_event(EventType.HEALING_COMPLETED, request, {
        "test_id": "t1", "signature": cause.signature, "status": "healed", "source": "healer",
        "cache_key": cause.key, "fix": {"selector": "#b", "strategy": "locator", "confidence": 0.9}}, ("x",))
    actions = decisions.on_completed(state, completed)
    assert state.in_flight == {}
    assert actions == [{"op": "cache_set", "key": cause.key, "ttl_s": 7 * 24 * 3600, "tenant_id": "acme",
                        "signature": cause.signature,
                        "fix": {"selector": "#b", "strategy": "locator", "confidence": 0.9}}]
    outcome = decisions.on_executed(state, "acme", "passed")
    assert outcome[0]["op"] == "cache_outcome" and outcome[0]["passed"] is True


def test_unhealable_answer_caches_nothing() -> None:
    rng, state = random.Random(6), decisions.TestHealingState()
    cause = failure(rng)
    request = decisions.on_failure(state, cause, None, now_ms=0)
    assert request is not None
    completed = decisions.derived_event(EventType.HEALING_COMPLETED, request, {
        "test_id": "t1", "signature": cause.signature, "status": "unhealable", "source": "healer",
        "cache_key": cause.key, "reason": "no candidate"}, ("y",))
    assert decisions.on_completed(state, completed) == [] and state.in_flight == {}
    assert decisions.on_executed(state, "acme", "passed") == []


def test_eviction_threshold() -> None:
    assert not decisions.should_evict(0, 2)  # too few tries to judge
    assert decisions.should_evict(1, 2)
    assert not decisions.should_evict(2, 2)
