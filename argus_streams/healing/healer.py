"""The healer: `healing.requested` -> `healing.completed`, trying its strategies in order.

1. history: a fix that healed the same signature before (from the graph),
2. locator: Healenium-style scoring of the DOM snapshot's elements (no LLM),
3. llm: a Claude-compatible endpoint, only when ARGUS_LLM_BASE_URL is set.
Whatever strategy proposes a selector, it heals only if it is a CSS selector the healer reads that selects exactly
one element of the failure's DOM snapshot; otherwise the next strategy is tried. Any failure of a strategy is an
`unhealable` answer with its reason, never a crash.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from argus_streams.contract.events import ArgusEvent, EventType
from argus_streams.healing import css
from argus_streams.healing.budget import HEAL_CPU_BUDGET_S, Deadline, HealingTimeout
from argus_streams.healing.decisions import derived_event
from argus_streams.healing.dom import parse_dom
from argus_streams.healing.llm import LLMSettings, heal_with_llm
from argus_streams.healing.locator import MAX_DOM_CHARS
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
        # A fix that worked on an earlier page heals this one only if it picks one element of it.
        fix = await _checked("history", fix, details, reasons)
    if fix is None:
        try:  # CPU work off the event loop, bounded by the locator's own CPU deadline (no timeout can stop it)
            located = await asyncio.to_thread(heal_locator, details)
        except HealingTimeout as exc:  # this record's snapshot is too costly: an answer, not a stalled job
            reasons.append(f"locator: {exc}")
        else:
            fix = located.as_fix()
            if fix is None:
                reasons.append(f"locator: {located.reason}")
            fix = await _checked("locator", fix, details, reasons)
    if fix is None and llm is not None:
        proposed = await heal_with_llm(llm, details)
        fix = proposed.as_fix()
        if fix is None:
            reasons.append(f"llm: {proposed.reason}")
        fix = await _checked("llm", fix, details, reasons)  # a model's answer is text
    return completed_event(request, fix, reasons)


async def _checked(strategy: str, fix: dict[str, Any] | None, details: dict[str, Any],
                   reasons: list[str]) -> dict[str, Any] | None:
    """`fix` if its selector picks exactly one element of the failure's DOM snapshot, else None with the reason."""
    if fix is None:
        return None
    problem = await asyncio.to_thread(unverified, fix["selector"], details)
    if problem:
        reasons.append(f"{strategy}: proposed {fix['selector']!r}, but {problem}")
        return None
    return fix


def unverified(selector: str, details: dict[str, Any]) -> str | None:
    """Why `selector` is no fix for the failure's DOM snapshot, or None when it is a CSS selector the healer
    reads that selects exactly one element of it. Bounded by the healer's CPU budget."""
    dom = details.get("dom_snapshot")
    if not isinstance(dom, str) or not dom.strip():
        return "there is no DOM snapshot to check it against"
    deadline = Deadline(HEAL_CPU_BUDGET_S)
    try:
        css.parse_selector(selector)  # `selected` reads an unsupported selector as selecting nothing
        found = css.selected(selector, parse_dom(dom[:MAX_DOM_CHARS], deadline), deadline)
    except css.SelectorError as exc:
        return f"it is not a CSS selector the healer can check ({exc})"
    except HealingTimeout:
        return "checking it against the DOM snapshot ran past the CPU budget"
    if len(found) != 1:
        return f"it selects {len(found)} elements of the DOM snapshot, not exactly one"
    return None


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
