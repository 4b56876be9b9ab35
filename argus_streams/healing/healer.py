"""The healer: `healing.requested` -> `healing.completed`, trying its strategies in order.

1. history: a fix that healed the same signature before (from the graph),
2. locator: Healenium-style scoring of the DOM snapshot's elements (no LLM),
3. llm: a Claude-compatible endpoint, only when ARGUS_LLM_BASE_URL is set.
Any failure of a strategy is an `unhealable` answer with its reason, never a crash.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from argus_streams.events import ArgusEvent, EventType
from argus_streams.healing.budget import HealingTimeout
from argus_streams.healing.decisions import derived_event
from argus_streams.healing.llm import LLMSettings, heal_with_llm
from argus_streams.healing.locator import heal as heal_locator
from argus_streams.healing.store import FixStore

log = logging.getLogger(__name__)
SOURCE = "flink.healer"


async def answer(request: ArgusEvent, store: FixStore | None, llm: LLMSettings | None) -> ArgusEvent:
    """The `healing.completed` event for one request (same tenant and correlation_id)."""
    payload = request.payload
    details = payload["failure_details"]
    fix: dict[str, Any] | None = None
    reasons: list[str] = []
    if store is not None:
        try:
            fix = await store.best_fix(request.tenant_id, payload["signature"])
        except Exception as exc:  # history is an optimisation: a graph hiccup must not block healing
            reasons.append(f"history unavailable: {exc!r}")
    if fix is None:
        try:  # CPU work off the event loop, bounded by the locator's own CPU deadline (no timeout can stop it)
            located = await asyncio.to_thread(heal_locator, details)
        except HealingTimeout as exc:  # this record's snapshot is too costly: an answer, not a stalled job
            reasons.append(f"locator: {exc}")
        else:
            fix = located.as_fix()
            if fix is None:
                reasons.append(f"locator: {located.reason}")
    if fix is None and llm is not None:
        proposed = await heal_with_llm(llm, details)
        fix = proposed.as_fix()
        if fix is None:
            reasons.append(f"llm: {proposed.reason}")
    return completed_event(request, fix, reasons)


def completed_event(request: ArgusEvent, fix: dict[str, Any] | None, reasons: list[str]) -> ArgusEvent:
    """The healer's `healing.completed` for `request`: `fix`, else `unhealable` with `reasons`. Its event id
    derives from the request's, so a request answered twice is one event to consumers."""
    payload = request.payload
    result: dict[str, Any] = {
        "test_id": payload["test_id"], "signature": payload["signature"], "source": "healer",
        "cache_key": payload.get("cache_key"),
    }
    if fix is not None:
        result.update(status="healed", fix=fix)
    else:
        result.update(status="unhealable", reason="; ".join(reasons) or "no strategy could heal it")
    return derived_event(EventType.HEALING_COMPLETED, request, result, ("healer", request.event_id), SOURCE)
