"""No healing record can stall, crash or exhaust the job: fuzzed fields of every topic, and the known bombs.

The record handlers are the plain functions the healing job's operators call (records.read_event in Route,
decisions.* in Decide, healer.answer in Heal). Any record either gives a normal result or raises an
`EventValidationError` (routed to the DLQ), within a bounded CPU time.
"""

from __future__ import annotations

import asyncio
import json
import pickle
import random
import time
from collections.abc import Callable
from typing import Any

import pytest
from argus_dev.samples import PAGE_AFTER_UI_CHANGE, executed_event, locator_failure
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from argus_streams.contract.events import ArgusEvent, EventType
from argus_streams.errors import EventValidationError
from argus_streams.healing import budget, classify, css, decisions, dom, locator, records, selectors
from argus_streams.healing.budget import Deadline, HealingInputError, HealingTimeout
from argus_streams.healing.healer import answer
from argus_streams.healing.store import decode_fix

FUZZ = settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
PER_RECORD_CPU_S = 1.0  # generous: the handlers' own bound is the (patched) healing budget below
TEST_BUDGET_S = 0.4


@pytest.fixture(autouse=True)
def short_budget(monkeypatch: pytest.MonkeyPatch) -> None:
    """The healer's CPU budget, shortened so that a bomb that reaches it keeps the suite short."""
    monkeypatch.setattr(locator, "HEAL_CPU_BUDGET_S", TEST_BUDGET_S)


def nested(depth: int, tag: str = "div", inner: str = "<button id='go'>Go</button>") -> str:
    return f"<{tag}>" * depth + inner + f"</{tag}>" * depth


# Hand-made hostile values: each one hung, crashed or exhausted a handler before this suite.
BOMB_STRINGS = [
    nested(20_000), "<div>x" * 20_000, "<!--" * 20_000, "<" * 100_000, "<a " + "b=c " * 20_000,
    "p " + "div " * 60 + "button", "section" + " div" * 40 + " button", '"' + '\\"' * 400,
    'getByText("' + '\\"' * 400 + '")', "assert " * 20_000, "expect(" * 20_000, "Expected:" * 20_000,
    "1" * 100_000, "a" * 300_000, "#" + "a" * 5_000, ".A" + "_" * 900 + "!",
]
JSON_LEAVES = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=30)
JSON = st.recursive(JSON_LEAVES, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(
    st.text(max_size=10), inner, max_size=4), max_leaves=12)
GARBAGE = JSON | st.sampled_from(BOMB_STRINGS) | st.text(max_size=200)
# Raw JSON texts no Python value serialises to: numbers past int's digit limit, nesting past the stack.
RAW_BOMBS = ["1" * 5_000, "[" * 3_000 + "]" * 3_000, '{"a":' * 900 + "1" + "}" * 900, "1e999", "NaN"]

FAILED_FIELDS = ["test_id", "test_suite_id", "project_id", "run_id", "build_id", "failure_details",
                 "failure_details.error_type", "failure_details.message", "failure_details.stack_trace",
                 "failure_details.selector", "failure_details.dom_snapshot", "failure_details.last_known_element",
                 "failure_details.last_known_element.tag", "failure_details.last_known_element.classes",
                 "failure_details.last_known_element.attributes", "failure_details.last_known_element.path",
                 "failure_details.last_known_element.text", "failure_details.last_known_element.id"]
REQUESTED_FIELDS = ["test_id", "signature", "cache_key", "failure_class", "test_suite_id", "failure_details",
                    *[f for f in FAILED_FIELDS if f.startswith("failure_details.")]]
COMPLETED_FIELDS = ["test_id", "signature", "status", "source", "fix", "fix.selector", "fix.strategy",
                    "fix.confidence", "reason", "success_rate", "cache_key"]
EXECUTED_FIELDS = ["test_id", "test_suite_id", "status", "duration_ms", "build_id"]
ENVELOPE_FIELDS = ["event_id", "event_type", "timestamp", "tenant_id", "correlation_id", "source", "metadata",
                   "payload"]


def base_failed() -> dict[str, Any]:
    event = locator_failure("acme", "t1", "#place-order", PAGE_AFTER_UI_CHANGE, seed=1)
    event.payload["failure_details"]["last_known_element"] = {
        "tag": "button", "id": "place-order", "classes": ["btn"], "text": "Place order", "path": "html>body>main",
        "attributes": {"type": "button"}}
    return event.to_dict()


def base_requested() -> dict[str, Any]:
    failure = decisions.examine_failure(ArgusEvent.from_dict(base_failed()))
    assert isinstance(failure, decisions.Failure)
    request = decisions.on_failure(decisions.TestHealingState(), failure, None, now_ms=0)
    assert request is not None
    return request.to_dict()


def base_completed() -> dict[str, Any]:
    request = ArgusEvent.from_dict(base_requested())
    return decisions.derived_event(EventType.HEALING_COMPLETED, request, {
        "test_id": "t1", "signature": request.payload["signature"], "status": "healed", "source": "healer",
        "cache_key": request.payload["cache_key"],
        "fix": {"selector": "#place-order-btn", "strategy": "locator", "confidence": 0.9}}, ("x",)).to_dict()


def base_executed() -> dict[str, Any]:
    return executed_event(random.Random(1), tenant="acme", suite="s", test="t1", run=1, status="passed").to_dict()


BASES: dict[str, tuple[Callable[[], dict[str, Any]], list[str]]] = {
    "test.failed": (base_failed, FAILED_FIELDS), "healing.requested": (base_requested, REQUESTED_FIELDS),
    "healing.completed": (base_completed, COMPLETED_FIELDS), "test.executed": (base_executed, EXECUTED_FIELDS),
}
_DELETE = object()


def _set(obj: dict[str, Any], path: str, value: Any) -> None:
    *parents, last = path.split(".")
    for part in parents:
        child = obj.get(part)
        if not isinstance(child, dict):
            return  # an ancestor was already replaced by garbage
        obj = child
    if value is _DELETE:
        obj.pop(last, None)
    else:
        obj[last] = value


@st.composite
def hostile_record(draw: st.DrawFn, topic: str) -> bytes:
    """A valid record of `topic` with a few of its fields (payload or envelope) replaced, deleted or bombed."""
    make, fields = BASES[topic]
    record = make()
    edits = draw(st.dictionaries(st.sampled_from([*(f"payload.{f}" for f in fields), *ENVELOPE_FIELDS]),
                                 GARBAGE | st.just(_DELETE), max_size=3))
    for path, value in edits.items():
        _set(record, path, value)
    text = json.dumps(record)
    if draw(st.booleans()):  # splice a raw bomb in where a payload value goes
        text = text.replace('"test_id": ', f'"extra": {draw(st.sampled_from(RAW_BOMBS))}, "test_id": ', 1)
    return text.encode()


def handle(value: bytes, state: decisions.TestHealingState) -> str:
    """One record through what the job's operators do with it; returns what became of it."""
    event = records.read_event(value)  # Route: bad data raises EventValidationError -> DLQ
    kind = event.event_type
    if kind is EventType.TEST_FAILED:
        verdict = decisions.examine_failure(event)
        if isinstance(verdict, str):
            return f"not healable ({verdict})"
        pickle.dumps(verdict)  # Route -> CacheLookup -> Decide are pickled
        out = decisions.on_failure(state, verdict, None, now_ms=0)
        if out is not None:
            out.to_json(), out.partition_key()
        return "decided"
    if kind is EventType.HEALING_REQUESTED:
        pickle.dumps(event)
        completed = asyncio.run(answer(event, None, None))  # Heal
        completed.to_json(), completed.partition_key()
        return str(completed.payload["status"])
    if kind is EventType.HEALING_COMPLETED:
        actions = decisions.on_completed(state, event)
        pickle.dumps(actions)
        return "answered"
    return f"counted {decisions.on_executed(state, event.tenant_id, event.payload['status'], event.event_id)}"


def run_bounded(value: bytes) -> str:
    state = decisions.TestHealingState()
    start = time.process_time()
    try:
        outcome = handle(value, state)
    except EventValidationError as exc:  # the routed kind: the job dead-letters it
        outcome = f"dlq {type(exc).__name__}"
    elapsed = time.process_time() - start
    pickle.dumps(state)  # the keyed state stays picklable whatever the record did
    assert elapsed < PER_RECORD_CPU_S, f"{elapsed:.2f} s of CPU for one record ({outcome})"
    return outcome


@pytest.mark.parametrize("topic", list(BASES))
def test_valid_records_are_handled(topic: str) -> None:
    assert not run_bounded(json.dumps(BASES[topic][0]()).encode()).startswith("dlq")


@pytest.mark.parametrize("topic", list(BASES))
@FUZZ
@given(data=st.data())
def test_hostile_fields_are_handled_or_routed(topic: str, data: st.DataObject) -> None:
    run_bounded(data.draw(hostile_record(topic)))


@FUZZ
@given(value=st.binary(max_size=200) | JSON.map(lambda v: json.dumps(v).encode()))
def test_arbitrary_bytes_are_routed(value: bytes) -> None:
    assert run_bounded(value).startswith("dlq")


@FUZZ
@given(details=st.dictionaries(st.sampled_from(["selector", "dom_snapshot", "last_known_element", "message",
                                                 "error_type"]), GARBAGE, max_size=5))
def test_locator_heal_is_bounded_on_any_details(details: dict[str, Any]) -> None:
    start = time.process_time()
    try:
        result = locator.heal(details)
    except HealingTimeout:
        result = None
    assert time.process_time() - start < PER_RECORD_CPU_S
    assert result is None or result.status in ("healed", "unhealable")


@FUZZ
@given(message=GARBAGE, error_type=GARBAGE, selector=GARBAGE)
def test_classify_is_bounded(message: Any, error_type: Any, selector: Any) -> None:
    start = time.process_time()
    verdict = classify.classify({"message": message, "error_type": error_type, "selector": selector})
    assert time.process_time() - start < 0.2 and verdict.failure_class


# ------------------------------------------------------------------------------- the matcher, against a reference


def reference_matches(steps: tuple[css.Step, ...], element: dom.Element, elements: list[dom.Element]) -> bool:
    """The matcher before it was linear (recursion over every ancestor): the semantics to keep."""
    def from_(position: int, node: dom.Element) -> bool:
        if not css.compound_matches(steps[position].compound, node):
            return False
        if position == 0:
            return True
        if steps[position].combinator == ">":
            return node.parent is not None and from_(position - 1, elements[node.parent])
        return any(from_(position - 1, ancestor) for ancestor in dom.ancestors(node, elements))
    return from_(len(steps) - 1, element)


TREE = st.recursive(st.sampled_from(["", "x"]), lambda inner: st.builds(
    lambda tag, cls, kids: f"<{tag} class='{cls}'>{''.join(kids)}</{tag}>",
    st.sampled_from(["div", "span", "b"]), st.sampled_from(["a", "b", "a b"]), st.lists(inner, max_size=3)),
    max_leaves=15)
SELECTOR = st.lists(st.sampled_from(["div", "span", "b", ".a", ".b", "*", "div.a", "span:nth-of-type(2)"]),
                    min_size=1, max_size=4).flatmap(lambda parts: st.lists(
                        st.sampled_from([" ", " > "]), min_size=len(parts) - 1, max_size=len(parts) - 1).map(
                        lambda joins: parts[0] + "".join(j + p for j, p in zip(joins, parts[1:], strict=True))))


@settings(max_examples=150, deadline=None, derandomize=True)
@given(html=TREE, selector=SELECTOR)
def test_matcher_selects_what_the_recursive_matcher_selected(html: str, selector: str) -> None:
    elements = dom.parse_dom(html)
    steps = css.parse_selector(selector)
    expected = [e.index for e in elements if reference_matches(steps, e, elements)]
    assert [e.index for e in css.select(selector, elements)] == expected


# ------------------------------------------------------------------------------- regressions: the right result


def test_forty_nested_divs_match_correctly_and_fast() -> None:
    elements = dom.parse_dom("<section>" + nested(40) + "</section>")
    start = time.process_time()
    button = [e.id for e in css.select("section div div div div div div div div button", elements)]
    missing = css.select("p div div div div div div div div button", elements)  # no <p> ancestor: nothing
    assert time.process_time() - start < 0.1
    assert button == ["go"] and missing == []
    assert [e.id for e in css.select("div > div > button", elements)] == ["go"]
    assert css.select("section > div > button", elements) == []
    # A <p> is closed by the <div> that follows it (HTML's implied end tags): still no match.
    assert css.select("p div button", dom.parse_dom("<p>" + nested(40) + "</p>")) == []


def test_deep_nesting_is_capped_and_shares_its_path() -> None:
    elements = dom.parse_dom(nested(dom.MAX_ELEMENTS - 1))
    assert len(elements) == dom.MAX_ELEMENTS and elements[-1].id == "go"
    assert max(e.depth for e in elements) == dom.MAX_DEPTH
    assert elements[-1].path == ("div",) * (dom.MAX_DEPTH - 1) + ("button",)
    assert elements[dom.MAX_DEPTH].parent == dom.MAX_DEPTH - 2  # past the cap: a sibling of the deepest
    assert dom.is_nested(elements[0], elements[-1], elements)


def test_text_of_a_deep_document_is_each_elements_own() -> None:
    elements = dom.parse_dom("<div>x" * 1_000)
    assert elements[0].text == "x" * dom.MAX_TEXT_CHARS and elements[-1].text == "x"


def test_classifier_keeps_its_verdicts_on_long_hostile_messages() -> None:
    long_line = "assert " * 20_000
    assert classify.classify({"error_type": "E", "message": long_line}).failure_class == "unknown"
    padded = "x" * 5_000 + "\nassert total == 3"
    assert classify.classify({"error_type": "E", "message": padded}).failure_class == "assertion"
    timeout = "1" * 100_000
    assert classify.classify({"error_type": "E", "message": timeout}).failure_class == "unknown"
    playwright = "Timeout 30000ms exceeded.\n" + "  - waiting for locator('#a')\n" * 2_000
    assert classify.classify({"error_type": "TimeoutError", "message": playwright}).healable


def test_selector_bombs_are_refused_or_read() -> None:
    assert selectors.fingerprint_from_selector('getByText("' + '\\"' * 300_000 + '")').is_empty
    with pytest.raises(css.SelectorError):
        css.parse_selector("div " * 100)
    assert selectors.fingerprint_from_selector("form > button.save").classes == ("save",)


def test_healing_completed_without_its_fix_is_a_data_error() -> None:
    record = base_completed()
    record["payload"]["fix"] = None
    with pytest.raises(HealingInputError, match="payload.fix"):
        records.read_event(json.dumps(record).encode())
    asking = decisions.TestHealingState(asked={record["payload"]["signature"]: "argus:fix:k"})
    with pytest.raises(HealingInputError):  # and the decision itself refuses it explicitly
        decisions.on_completed(asking, ArgusEvent.from_dict(record))


@pytest.mark.parametrize("raw", RAW_BOMBS[:3])
def test_raw_json_bombs_are_data_errors(raw: str) -> None:
    text = json.dumps(base_executed()).replace('"test_id": ', f'"extra": {raw}, "test_id": ', 1)
    with pytest.raises(EventValidationError):
        records.read_event(text.encode())


def test_oversized_records_are_data_errors() -> None:
    with pytest.raises(HealingInputError, match="larger than"):
        records.read_event(b" " * (records.MAX_RECORD_BYTES + 1))


def test_a_cache_entry_that_is_not_a_fix_is_a_miss() -> None:
    assert decode_fix({b"selector": b"#a", b"strategy": b"locator", b"confidence": b"0.5"})["confidence"] == 0.5
    assert decode_fix({b"selector": b"#a"}) is None
    assert decode_fix({b"selector": b"#a", b"strategy": b"x", b"confidence": b"high"}) is None
    assert decode_fix({b"\xff": b"x"}) is None


def test_in_flight_marks_per_test_are_bounded() -> None:
    state = decisions.TestHealingState()
    failure = decisions.examine_failure(ArgusEvent.from_dict(base_failed()))
    assert isinstance(failure, decisions.Failure)
    for number in range(decisions.MAX_IN_FLIGHT * 3):
        signed = decisions.Failure(failure.event, f"sig-{number}", failure.failure_class, failure.selector)
        assert decisions.on_failure(state, signed, None, now_ms=number) is not None
    newest = f"sig-{decisions.MAX_IN_FLIGHT * 3 - 1}"
    assert len(state.in_flight) == decisions.MAX_IN_FLIGHT and newest in state.in_flight


def test_a_runaway_heal_is_an_unhealable_answer_within_its_budget() -> None:
    request = ArgusEvent.from_dict(base_requested())
    details = {**request.payload["failure_details"], "dom_snapshot": "<!--" * 200_000}
    bomb = request.model_copy(update={"payload": {**request.payload, "failure_details": details}})
    start = time.process_time()
    completed = asyncio.run(answer(bomb, None, None))
    assert time.process_time() - start < TEST_BUDGET_S + 0.5
    assert completed.payload["status"] == "unhealable" and "gave up after" in completed.payload["reason"]


def test_deadline_raises_a_data_error() -> None:
    deadline = Deadline(0.0)
    time.sleep(0)
    with pytest.raises(HealingTimeout) as raised:
        while True:
            deadline.tick()
    assert isinstance(raised.value, EventValidationError) and budget.TICKS_PER_CHECK > 0


# Measured before the fixes (same machine, nice 19 beside a benchmark; "> 40 s" = killed by a 40 s timeout).
# After them, with the regex tokenizer, memoised scoring and indexed matching (CPU, median of 5 runs, nice 19 on a
# loaded 2-core machine; before that change in brackets): css 0.3 ms (0.5), dom 50,000 nested divs 189 ms (560),
# dom '<div>x' x 50,000 205 ms (529), classify 23 ms and 18 ms (unchanged), selectors 0.1 ms, heal of the
# 200,000-character id < 0.1 ms (refused by its length), heal of the valid 1 MB snapshot 274 ms (824).
BOMB_BOUND_S = 2.0
BEFORE = {
    "css: section + 8 descendant steps over 40 nested divs": "> 40 s",
    "dom: 50,000 nested divs": "> 40 s",
    "dom: '<div>x' x 50,000 (text of every ancestor)": "> 40 s",
    "classify: 'assert ' x 150,000": "> 40 s",
    "classify: 'expect(' x 150,000": "> 40 s",
    "selectors: getByText with 300,000 escaped quotes": "> 40 s",
    "heal: 200,000-character id against a 200,000-character id": "> 40 s",
    "heal: valid 1 MB snapshot (12,000 rows)": "0.85 s",
    "dom: 1 MiB of '<b>' (349,000 start tags)": "0.42 s",
}


def test_known_bombs_timings() -> None:
    row = "<div class='row'><span>Item {}</span><button class='buy'>Buy</button></div>"
    rows = "".join(row.format(n) for n in range(12000))
    checks: dict[str, Callable[[], bool]] = {
        "css: section + 8 descendant steps over 40 nested divs": lambda: [e.id for e in css.select(
            "section div div div div div div div div button", dom.parse_dom(f"<section>{nested(40)}</section>"))]
        == ["go"],
        "dom: 50,000 nested divs": lambda: len(dom.parse_dom(nested(49_999))) == dom.MAX_ELEMENTS,
        "dom: 1 MiB of '<b>' (349,000 start tags)": lambda: len(dom.parse_dom("<b>" * 349_000)) == dom.MAX_ELEMENTS,
        "dom: '<div>x' x 50,000 (text of every ancestor)": lambda: dom.parse_dom("<div>x" * 50_000)[-1].text == "x",
        "classify: 'assert ' x 150,000": lambda: classify.classify(
            {"error_type": "E", "message": "assert " * 150_000}).failure_class == "unknown",
        "classify: 'expect(' x 150,000": lambda: classify.classify(
            {"error_type": "E", "message": "expect(" * 150_000}).failure_class == "unknown",
        "selectors: getByText with 300,000 escaped quotes": lambda: selectors.fingerprint_from_selector(
            'getByText("' + '\\"' * 300_000 + '")').is_empty,
        "heal: 200,000-character id against a 200,000-character id": lambda: locator.heal({
            "selector": "#" + "a" * 200_000,
            "dom_snapshot": "<button id='" + "a" * 199_999 + "b'>x</button><button id='c'>y</button>"}).status
        == "unhealable",
        "heal: valid 1 MB snapshot (12,000 rows)": lambda: locator.heal(
            {"selector": "[data-testid=checkout]",
             "dom_snapshot": f"<main><button data-testid='checkout-now'>Checkout</button>{rows}</main>"},
            deadline=Deadline(BOMB_BOUND_S)).selector == "[data-testid=checkout-now]",
    }
    for name, check in checks.items():
        start = time.thread_time()  # this thread's CPU: the suite's other threads (Kafka clients ...) do not count
        assert check(), name
        elapsed = time.thread_time() - start
        print(f"{name}: before {BEFORE[name]}, after {elapsed:.3f} s CPU")
        # Bounded, far below the > 40 s they took: the 100 ms a record is measured by bench/healing_cpu.py,
        # not asserted here (a timed assertion on a loaded CI machine fails for reasons of its own).
        assert elapsed < BOMB_BOUND_S
