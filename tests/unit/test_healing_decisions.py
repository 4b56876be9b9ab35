"""The healing decision without Flink: cache hits, one request while in flight, answers, outcomes."""

from __future__ import annotations

import random

import pytest
from argus_dev.samples import failed_event

from argus_streams.contract.events import ArgusEvent, EventType
from argus_streams.healing import decisions
from argus_streams.healing.budget import HealingInputError

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
    outcome = decisions.on_executed(state, "acme", "passed", "e-1")
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
    assert decisions.on_executed(state, "acme", "passed", "e-1") == []


def test_eviction_threshold() -> None:
    assert not decisions.should_evict(0, 2)  # too few tries to judge
    assert decisions.should_evict(1, 2)
    assert not decisions.should_evict(2, 2)


# Golden values: the cache key is stored (7 days) and the event ids are what consumers dedupe by, so a change
# to either orphans every cached fix or re-delivers every answer after a deploy. Hand-written, not recomputed.
CAUSE = ArgusEvent(
    event_id="11111111-1111-4111-8111-111111111111", event_type=EventType.TEST_FAILED,
    timestamp="2026-12-01T10:00:00+00:00", source="runner", tenant_id="acme",
    correlation_id="22222222-2222-4222-8222-222222222222",
    payload={"test_id": "t-checkout", "test_suite_id": "s-shop", "run_id": "r1", "failure_details": HEALABLE},
)
SIGNATURE = "v1:5abf1a75a8f2340d84f0bf34"  # tests/unit/test_signature.py pins how it is computed
KEY = "argus:fix:acme:v1:5abf1a75a8f2340d84f0bf34:c045de33aba55dea"  # sha256("#place-order")[:16]
FIX = {"selector": "#place-order-btn", "strategy": "locator", "confidence": 0.82}


def golden_failure() -> decisions.Failure:
    examined = decisions.examine_failure(CAUSE)
    assert examined == decisions.Failure(CAUSE, SIGNATURE, "locator_not_found", "#place-order")
    return examined


def test_cache_keys_are_pinned() -> None:
    assert decisions.cache_key("acme", "v1:abc", "#place-order") == "argus:fix:acme:v1:abc:c045de33aba55dea"
    # no selector and an empty one share the key of the empty string's hash
    assert decisions.cache_key("acme", "v1:abc", None) == "argus:fix:acme:v1:abc:e3b0c44298fc1c14"
    assert decisions.cache_key("acme", "v1:abc", "") == "argus:fix:acme:v1:abc:e3b0c44298fc1c14"
    assert golden_failure().key == KEY


def test_a_request_is_exactly_this_event() -> None:
    request = decisions.on_failure(decisions.TestHealingState(), golden_failure(), None, now_ms=0)
    assert request is not None
    assert request.model_dump(mode="json") == {
        "event_id": "b2a5e67f-6fc0-4511-b70b-bc1c63b1143f", "event_type": "healing.requested",
        "timestamp": "2026-12-01T10:00:00Z", "source": "flink.healing", "tenant_id": "acme",
        "correlation_id": "22222222-2222-4222-8222-222222222222",
        "payload": {"test_id": "t-checkout", "test_suite_id": "s-shop", "signature": SIGNATURE,
                    "failure_class": "locator_not_found", "cache_key": KEY, "failure_details": HEALABLE},
        "metadata": {"caused_by": "11111111-1111-4111-8111-111111111111"},
    }


def test_a_cache_hit_is_exactly_this_answer_and_the_fix_is_then_in_use() -> None:
    state = decisions.TestHealingState()
    cached = {**FIX, "success_count": 3, "failure_count": 1, "created_at": "x"}
    answer = decisions.on_failure(state, golden_failure(), cached, now_ms=0)
    assert answer is not None
    assert answer.model_dump(mode="json") == {
        "event_id": "32bfa558-cd73-4cdb-b2e7-ce83faa31109", "event_type": "healing.completed",
        "timestamp": "2026-12-01T10:00:00Z", "source": "flink.healing", "tenant_id": "acme",
        "correlation_id": "22222222-2222-4222-8222-222222222222",
        "payload": {"test_id": "t-checkout", "signature": SIGNATURE, "status": "healed", "source": "cache",
                    "fix": FIX, "success_rate": 0.75, "cache_key": KEY},
        "metadata": {"caused_by": "11111111-1111-4111-8111-111111111111"},
    }
    assert state.fix == decisions.FixInUse(KEY, SIGNATURE, cached)
    assert state.in_flight == {}  # a cache hit asks nothing
    assert decisions.on_executed(state, "acme", "failed", "e-1") == [{
        "op": "cache_outcome", "key": KEY, "passed": False, "tenant_id": "acme", "event_id": "e-1",
        "signature": SIGNATURE, "fix": FIX}]
    assert decisions.on_executed(state, "acme", "passed", "e-2")[0]["passed"] is True
    assert decisions.on_executed(state, "acme", "skipped", "e-3") == []
    assert decisions.on_executed(decisions.TestHealingState(), "acme", "failed", "e-4") == []  # no fix was served


def answer_to(signature: str = SIGNATURE, cache_key: str = KEY, **fields: object):  # noqa: ANN201
    return decisions.derived_event(EventType.HEALING_COMPLETED, CAUSE, {
        "test_id": "t-checkout", "signature": signature, "status": "healed", "source": "healer",
        "fix": {**FIX, "reason": "same text"}, "cache_key": cache_key, **fields}, ("answer",), source="flink.healer")


def test_a_healed_answer_is_exactly_this_cache_write() -> None:
    state = decisions.TestHealingState()
    assert decisions.on_failure(state, golden_failure(), None, now_ms=0) is not None
    assert state.asked == {SIGNATURE: KEY}
    state.in_flight["v1:other"] = 20
    # the key is the one the request derived, whatever the answer says (here another tenant's)
    completed = answer_to(cache_key="argus:fix:globex:v1:5abf1a75a8f2340d84f0bf34:c045de33aba55dea")
    assert decisions.on_completed(state, completed) == [{
        "op": "cache_set", "key": KEY, "fix": FIX, "ttl_s": 604_800, "tenant_id": "acme", "signature": SIGNATURE}]
    assert state.in_flight == {"v1:other": 20} and state.asked == {}
    assert state.fix == decisions.FixInUse(KEY, SIGNATURE, FIX)
    for broken in (None, "#a", {"selector": "#a", "strategy": "locator"}):
        asking = decisions.TestHealingState(asked={SIGNATURE: KEY})
        bad = completed.model_copy(update={"payload": {**completed.payload, "fix": broken}})
        with pytest.raises(HealingInputError) as error:
            decisions.on_completed(asking, bad)
        assert str(error.value) == "payload.fix: a healed answer carries its fix (records.read_event checks it)"


def test_an_answer_to_no_request_caches_nothing() -> None:
    """Forged, duplicated, or its request long expired: the fix cache and the fix's counts are left alone."""
    state = decisions.TestHealingState()
    assert decisions.on_completed(state, answer_to()) == []  # nothing asked: forged
    assert decisions.on_completed(state, answer_to(cache_key="argus")) == []  # "argus" is the graph's own key
    decisions.on_failure(state, golden_failure(), None, now_ms=0)
    assert len(decisions.on_completed(state, answer_to())) == 1
    assert decisions.on_completed(state, answer_to()) == []  # the duplicate
    decisions.on_failure(state, golden_failure(), None, now_ms=0)  # asked again
    assert decisions.on_completed(state, answer_to(signature="v1:another")) == []  # not what was asked
    assert state.asked == {SIGNATURE: KEY}


def test_asked_keys_follow_the_in_flight_marks() -> None:
    state = decisions.TestHealingState(in_flight={"v1:old": 5}, asked={"v1:old": "argus:fix:acme:v1:old:x"})
    decisions.on_failure(state, golden_failure(), None, now_ms=10)  # v1:old expired meanwhile
    assert state.asked == {SIGNATURE: KEY} and set(state.in_flight) == {SIGNATURE}


def test_a_state_checkpointed_before_asked_existed_restores() -> None:
    import pickle

    old = decisions.TestHealingState(in_flight={SIGNATURE: 99})
    del old.__dict__["asked"]  # what an older version pickled
    restored = pickle.loads(pickle.dumps(old))
    assert restored.asked == {} and restored.in_flight == {SIGNATURE: 99}
    assert decisions.on_completed(restored, answer_to()) == []  # its request's key is unknown: asked again later


def test_in_flight_marks_expire_at_their_due_time_and_are_bounded() -> None:
    failure = golden_failure()
    state = decisions.TestHealingState(in_flight={SIGNATURE: 1000})
    assert decisions.on_failure(state, failure, None, now_ms=999) is None
    assert decisions.on_failure(state, failure, None, now_ms=1000) is not None  # due: asked again
    assert state.in_flight == {SIGNATURE: 1000 + decisions.IN_FLIGHT_TIMEOUT_MS}
    # expired marks of other signatures go; at the limit, the soonest to expire gives way
    marks = {f"v1:{n}": 6000 - n for n in range(decisions.MAX_IN_FLIGHT)}  # v1:31 is the soonest due
    state = decisions.TestHealingState(in_flight={**marks, "v1:gone": 3999, "v1:due-now": 4000})
    assert decisions.on_failure(state, failure, None, now_ms=4000) is not None
    assert len(state.in_flight) == decisions.MAX_IN_FLIGHT
    last = f"v1:{decisions.MAX_IN_FLIGHT - 1}"
    assert not {"v1:gone", "v1:due-now", last} & set(state.in_flight) and "v1:0" in state.in_flight
    assert state.in_flight[SIGNATURE] == 4000 + decisions.IN_FLIGHT_TIMEOUT_MS
    below = {f"v1:{n}": 5000 + n for n in range(decisions.MAX_IN_FLIGHT - 2)}
    state = decisions.TestHealingState(in_flight={**below, "v1:due-now": 0})
    decisions.on_failure(state, failure, None, now_ms=0)
    # below the limit only the expired (due now) goes
    assert state.in_flight == {**below, SIGNATURE: decisions.IN_FLIGHT_TIMEOUT_MS}


def test_success_rate_counts_missing_outcomes_as_zero() -> None:
    assert decisions.success_rate({}) is None
    assert decisions.success_rate({"success_count": 2}) == 1.0
    assert decisions.success_rate({"failure_count": 2}) == 0.0
    assert decisions.success_rate({"success_count": 1, "failure_count": 3}) == 0.25


def test_derived_event_ids_depend_on_every_part() -> None:
    ids = {decisions.derived_event(EventType.HEALING_COMPLETED, CAUSE, {}, parts).event_id
           for parts in [("cache", "e1"), ("cache", "e2"), ("request", "e1"), ("cache",)]}
    assert len(ids) == 4
    assert decisions.stable_id("a", "b") == "f04cdced-9736-469d-a610-3f08a4daaf8c"
