"""Poison input: 20+ kinds of records that must never parse (tests and the soak benchmark send them)."""

from __future__ import annotations

import json
from typing import Any

from argus_streams.contract.events import ArgusEvent

TEN_MB = 10 * 1024 * 1024


def nested(depth: int) -> bytes:
    return b'{"a":' * depth + b"1" + b"}" * depth


def poison_values(good: ArgusEvent) -> dict[str, bytes]:
    """Kind of bad input -> the record value. `good` is a valid test.failed event to corrupt."""
    base: dict[str, Any] = good.to_dict()
    text = good.to_json()

    def variant(**changes: Any) -> bytes:
        return json.dumps({**base, **changes}).encode()

    def without(field: str) -> bytes:
        return json.dumps({k: v for k, v in base.items() if k != field}).encode()

    def payload(**changes: Any) -> bytes:
        return variant(payload={**base["payload"], **changes})

    huge = {**base, "payload": {**base["payload"], "failure_details": {
        **base["payload"]["failure_details"], "message": "x" * TEN_MB}}}
    return {
        "truncated json": text[: len(text) // 2].encode(),
        "not json": b"this is not json at all",
        "empty value": b"",
        "json array": b"[1, 2, 3]",
        "json string": json.dumps(text).encode(),  # an event encoded twice
        "json null": b"null",
        "invalid utf-8": b"\xff\xfe\xfa{" + text.encode()[1:],
        "deep nesting": nested(100_000),
        "event_id not a uuid": variant(event_id="not-a-uuid"),
        "missing tenant": without("tenant_id"),
        "missing event_id": without("event_id"),
        "timestamp wrong type": variant(timestamp=12345),
        "timestamp not a date": variant(timestamp="yesterday"),
        "unknown event type": variant(event_type="test.exploded"),
        "event type of another topic": variant(event_type="codebase.ingested"),
        "payload not an object": variant(payload="a string"),
        "payload missing fields": variant(payload={"test_id": "x"}),
        "payload wrong types": payload(failure_details=["not", "an", "object"]),
        "metadata not an object": variant(metadata=[1, 2]),
        "correlation_id wrong type": variant(correlation_id={"id": 1}),
        "10 MB truncated": json.dumps(huge).encode()[:-20],
        "nul bytes": b"\x00" * 64,
    }
