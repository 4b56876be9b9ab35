"""Self-healing decisions without Flink: what to do with a failure, a healer's answer and a later run.

The healing job (jobs/healing.py) keeps `TestHealingState` per (tenant, test_id) in keyed state and
calls these functions; the fix cache and the graph are written from the actions they return.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass, field
from typing import Any

from argus_streams.contract.events import ArgusEvent, EventType
from argus_streams.failures.signature import compute
from argus_streams.healing.budget import HealingInputError
from argus_streams.healing.classify import classify

FIX_TTL_S = 7 * 24 * 60 * 60  # the seed's 7-day fix cache
CACHE_PREFIX = "argus:fix:"
IN_FLIGHT_TIMEOUT_MS = 5 * 60 * 1000  # a request unanswered this long may be sent again
MIN_SUCCESS_RATE = 0.5  # a fix that works less often than this is evicted...
MIN_OUTCOMES = 3  # ...once it has been tried this many times
# Signatures one test may have in flight at once: a test fails one way at a time, so more is a flood (the
# soonest to expire give way); it bounds the keyed state of a (tenant, test).
MAX_IN_FLIGHT = 32
FIX_FIELDS = ("selector", "strategy", "confidence")
SOURCE = "flink.healing"


def stable_id(*parts: str) -> str:
    """A UUID v4-shaped id derived from parts: a replay after a restart emits the same event id."""
    digest = hashlib.sha256("\x1f".join(parts).encode()).digest()[:16]
    return str(uuid.UUID(bytes=digest, version=4))


def cache_key(tenant_id: str, signature: str, selector: str | None) -> str:
    selector_hash = hashlib.sha256((selector or "").encode()).hexdigest()[:16]
    return f"{CACHE_PREFIX}{tenant_id}:{signature}:{selector_hash}"


@dataclass(frozen=True)
class Failure:
    """A healable `test.failed`, with what the decision and the healer need."""

    event: ArgusEvent
    signature: str
    failure_class: str
    selector: str | None

    @property
    def key(self) -> str:
        return cache_key(self.event.tenant_id, self.signature, self.selector)


def examine_failure(event: ArgusEvent) -> Failure | str:
    """A healable Failure, or the failure class of a failure that must not be sent for healing."""
    details = event.payload["failure_details"]
    verdict = classify(details)
    if not verdict.healable:
        return verdict.failure_class
    return Failure(event, compute(details).id, verdict.failure_class, details.get("selector"))


@dataclass
class FixInUse:
    key: str
    signature: str
    fix: dict[str, Any]


@dataclass
class TestHealingState:
    """Per (tenant, test): requests in flight by signature (expiry ms), the cache key each asked for, and the
    fix last served. Only an answer to a request in flight is cached, under the key the request derived."""

    __test__ = False
    in_flight: dict[str, int] = field(default_factory=dict)
    fix: FixInUse | None = None
    asked: dict[str, str] = field(default_factory=dict)  # signature -> cache key of the request in flight

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update({"asked": {}, **state})  # states checkpointed before `asked` existed


def success_rate(fix: dict[str, Any]) -> float | None:
    tried = fix.get("success_count", 0) + fix.get("failure_count", 0)
    return fix.get("success_count", 0) / tried if tried else None


def derived_event(event_type: EventType, cause: ArgusEvent, payload: dict[str, Any], id_parts: tuple[str, ...],
                  source: str = SOURCE) -> ArgusEvent:
    """An event caused by `cause`: same tenant and correlation_id (the chain stays traceable)."""
    return ArgusEvent(
        event_id=stable_id(event_type.value, *id_parts), event_type=event_type, timestamp=cause.timestamp,
        source=source, tenant_id=cause.tenant_id, correlation_id=cause.correlation_id, payload=payload,
        metadata={"caused_by": cause.event_id},
    )


def on_failure(state: TestHealingState, failure: Failure, cached: dict[str, Any] | None,
               now_ms: int) -> ArgusEvent | None:
    """A cached fix answers at once; otherwise one request per (test, signature) while one is in flight."""
    event = failure.event
    if cached is not None:
        state.fix = FixInUse(failure.key, failure.signature, cached)
        return derived_event(EventType.HEALING_COMPLETED, event, {
            "test_id": event.payload["test_id"], "signature": failure.signature, "status": "healed",
            "source": "cache", "fix": {k: cached[k] for k in ("selector", "strategy", "confidence")},
            "success_rate": success_rate(cached), "cache_key": failure.key,
        }, ("cache", event.event_id))
    expires = state.in_flight.get(failure.signature)
    if expires is not None and expires > now_ms:
        return None  # already asked: identical failures wait for that answer
    state.in_flight = {sig: due for sig, due in state.in_flight.items() if due > now_ms}
    while len(state.in_flight) >= MAX_IN_FLIGHT:
        del state.in_flight[min(state.in_flight, key=state.in_flight.__getitem__)]
    state.in_flight[failure.signature] = now_ms + IN_FLIGHT_TIMEOUT_MS
    state.asked = {sig: key for sig, key in state.asked.items() if sig in state.in_flight}
    state.asked[failure.signature] = failure.key
    return derived_event(EventType.HEALING_REQUESTED, event, {
        "test_id": event.payload["test_id"], "test_suite_id": event.payload.get("test_suite_id"),
        "signature": failure.signature, "failure_class": failure.failure_class, "cache_key": failure.key,
        "failure_details": event.payload["failure_details"],
    }, ("request", event.event_id))


def on_completed(state: TestHealingState, completed: ArgusEvent) -> list[dict[str, Any]]:
    """A healer's answer: clear the in-flight mark; a healed fix is cached (7 days) and recorded.

    Only the answer to a request this state has in flight counts, and it is cached under the key that request
    derived from (tenant, signature, selector): the event's own `cache_key` is never used, so an answer can
    neither name another tenant's key nor a key that is not a fix. A duplicate answer, or one to no request
    (forged, or its request expired), caches nothing and leaves the fix's counts alone."""
    payload = completed.payload
    signature = payload["signature"]
    state.in_flight.pop(signature, None)
    key = state.asked.pop(signature, None)
    if payload.get("source") != "healer" or payload.get("status") != "healed" or key is None:
        return []
    answered = payload.get("fix")
    if not isinstance(answered, dict) or any(k not in answered for k in FIX_FIELDS):
        raise HealingInputError("payload.fix", "a healed answer carries its fix (records.read_event checks it)")
    fix = {k: answered[k] for k in FIX_FIELDS}
    state.fix = FixInUse(key, signature, fix)
    return [{"op": "cache_set", "key": key, "fix": fix, "ttl_s": FIX_TTL_S,
             "tenant_id": completed.tenant_id, "signature": signature}]


def on_executed(state: TestHealingState, tenant_id: str, status: str, event_id: str) -> list[dict[str, Any]]:
    """A run after a fix was served: its outcome is counted on the cached fix, once per `test.executed` event
    (the writer skips an event id it counted already: a replay or a redelivery), and the writer evicts a fix
    whose success rate fell below MIN_SUCCESS_RATE after MIN_OUTCOMES tries."""
    if state.fix is None or status not in ("passed", "failed"):
        return []
    fix = state.fix
    return [{"op": "cache_outcome", "key": fix.key, "passed": status == "passed", "tenant_id": tenant_id,
             "event_id": event_id, "signature": fix.signature,
             "fix": {k: fix.fix[k] for k in ("selector", "strategy", "confidence")}}]


def should_evict(success_count: int, failure_count: int) -> bool:
    tried = success_count + failure_count
    return tried >= MIN_OUTCOMES and success_count / tried < MIN_SUCCESS_RATE
