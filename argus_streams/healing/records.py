"""The healing job's input records, read and checked: every field the decision and the healer use.

A record the healing logic cannot use raises `HealingInputError` (an `EventValidationError`) here, in the
job's first operator, which dead-letters it; the operators after it never see a field of the wrong type or
shape (a `healing.completed` "healed" without its fix was a TypeError in the keyed decision: a crash loop).
"""

from __future__ import annotations

from typing import Any

from argus_streams.contract.events import ArgusEvent, EventType
from argus_streams.contract.payloads import HealingCompleted, HealingRequested, parse_payload
from argus_streams.errors import EventValidationError
from argus_streams.healing.budget import HealingInputError
from argus_streams.healing.css import MAX_SELECTOR_CHARS

READ_TYPES = frozenset({
    EventType.TEST_FAILED, EventType.TEST_EXECUTED, EventType.HEALING_REQUESTED, EventType.HEALING_COMPLETED,
})
# A healing.requested carries the failure's details (its DOM snapshot too) and must itself fit a topic whose
# records are at most 1 MiB (the broker default): larger failures cannot be forwarded to the healer.
MAX_RECORD_BYTES = 1024 * 1024 - 64 * 1024
# Payloads nest 4 deep (failure_details.last_known_element.attributes); deeper JSON would later overflow
# the stack when the record is pickled between operators or serialised again (RecursionError in a worker).
MAX_JSON_DEPTH = 32
MAX_KEY_CHARS = 512  # tenant ids, signatures: keys of state and of the fix cache (ours are < 100 characters)
MAX_CACHE_KEY_CHARS = 2 * MAX_KEY_CHARS + 64  # argus:fix:<tenant>:<signature>:<selector hash>
MAX_STRATEGY_CHARS = 100


def _depth_error(value: Any, field: str) -> HealingInputError | None:
    """An error when `value` nests deeper than MAX_JSON_DEPTH (an iterative walk: no recursion on input)."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        children = node.values() if isinstance(node, dict) else node if isinstance(node, list) else None
        if children is None:
            continue
        if depth > MAX_JSON_DEPTH:
            return HealingInputError(field, f"nested deeper than {MAX_JSON_DEPTH} levels")
        stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return None


def _longer_than(value: Any, limit: int, field: str) -> None:
    if isinstance(value, str) and len(value) > limit:
        raise HealingInputError(field, f"longer than {limit} characters")


def _check_completed(payload: HealingCompleted) -> None:
    if payload.status == "healed" and payload.fix is None:
        raise HealingInputError("payload.fix", "a healed answer carries its fix")
    if payload.fix is not None:
        _longer_than(payload.fix.selector, MAX_SELECTOR_CHARS, "payload.fix.selector")
        _longer_than(payload.fix.strategy, MAX_STRATEGY_CHARS, "payload.fix.strategy")
    _longer_than(payload.cache_key, MAX_CACHE_KEY_CHARS, "payload.cache_key")


def read_event(value: bytes | None) -> ArgusEvent:
    """The event of one Kafka value the healing job reads; raises `EventValidationError` (a `HealingInputError`
    for the healing-specific checks) when the record is not one it can use."""
    if value is None or len(value) > MAX_RECORD_BYTES:
        raise HealingInputError("$", f"{len(value or b'')} bytes: no value, or larger than {MAX_RECORD_BYTES}")
    try:
        event = ArgusEvent.from_json(value)
    except EventValidationError:
        raise
    except (ValueError, RecursionError) as exc:  # e.g. an integer of more than 4,300 digits
        raise HealingInputError("$", f"not valid JSON: {exc}") from exc
    if event.event_type not in READ_TYPES:
        raise HealingInputError("event_type", f"{event.event_type.value!r} is not read by the healing job")
    _longer_than(event.tenant_id, MAX_KEY_CHARS, "tenant_id")
    error = _depth_error(event.payload, "payload") or _depth_error(event.metadata, "metadata")
    if error is not None:
        raise error
    payload = parse_payload(event)
    if isinstance(payload, HealingRequested | HealingCompleted):
        _longer_than(payload.signature, MAX_KEY_CHARS, "payload.signature")
    if isinstance(payload, HealingCompleted):
        _check_completed(payload)
    return event
