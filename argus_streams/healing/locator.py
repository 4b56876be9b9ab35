"""Healenium-style locator healing without an LLM: find the element a broken selector meant in the new DOM.

The target is a fingerprint: the `last_known_element` captured in the last passing run when there is one,
else what the failed selector itself says (tag, id, classes, attributes, text, ancestor tags). Every element
of the failure-time DOM snapshot is scored against it; the best one is accepted only when it scores at least
the threshold and clearly beats the runner-up, and is then given the most stable unique selector.
"""

from __future__ import annotations

import functools
import itertools
import math
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from difflib import SequenceMatcher
from typing import Any, Literal

from argus_streams.healing.budget import HEAL_CPU_BUDGET_S, Deadline, HealingTimeout, collector_paused
from argus_streams.healing.css import (
    MAX_PATH_STEPS,
    MAX_SELECTOR_CHARS,
    TEST_ID_ATTRIBUTES,
    class_stem,
    is_unique,
    matches,
    selector_for,
)
from argus_streams.healing.dom import (
    INTERESTING_ATTRIBUTES,
    MAX_TEXT_CHARS,
    Element,
    Lineage,
    collapse,
    is_nested,
    parse_dom,
)
from argus_streams.healing.selectors import Fingerprint, fingerprint_from_selector, tokens

__all__ = [
    "DEFAULT_THRESHOLD", "Element", "Fingerprint", "HealResult", "fingerprint_from_element",
    "fingerprint_from_selector", "heal", "matches", "parse_dom", "score", "selector_for",
]

# Component weights of `score`. Only the components the target actually has count, and the sum is
# renormalised over them, so a selector that only names an id is judged on the id alone.
TAG_WEIGHT = 0.10
ID_WEIGHT = 0.20
CLASS_WEIGHT = 0.10
TEXT_WEIGHT = 0.20
ATTRIBUTE_WEIGHT = 0.25
PATH_WEIGHT = 0.15
# Inside the attribute component: test ids are put there for tests and are the strongest evidence.
ATTRIBUTE_WEIGHTS = {"data-testid": 3.0, "data-test": 3.0, "data-cy": 3.0, "name": 2.0, "value": 0.5}
DEFAULT_ATTRIBUTE_WEIGHT = 1.0
CROSS_KEY_FACTOR = 0.9  # the same identifier under another key (data-cy -> data-testid, id -> name)
EXACT_ATTRIBUTES = frozenset({"type", "role"})  # enumerations: near-misses mean nothing
RATIO_NOISE_FLOOR = 0.3  # difflib's ratio of two unrelated words is about this: rescaled to 0

DEFAULT_THRESHOLD = 0.5  # as Healenium's default score cap; the ambiguity margin guards the close calls
AMBIGUITY_MARGIN = 0.05  # best and runner-up closer than this: refuse to guess
MAX_DOM_CHARS = 2_000_000  # larger snapshots are cut (and the reason says so)
# difflib's ratio costs O(len(a) x len(b)): identifiers and labels are compared on their first this many
# characters (texts are already cut to MAX_TEXT_CHARS; a 1 MB attribute against a 1 MB id ran for minutes).
MAX_SIMILARITY_CHARS = 200
# Ancestor tags compared by `_path_similarity` (LCS costs len x len): the nearest this many. Real pages
# are < 50 deep; a hostile snapshot is 256 deep (dom.MAX_DEPTH).
MAX_PATH_TAGS = 32
MAX_FINGERPRINT_CLASSES = 32  # classes of a last_known_element that are compared (each against each)
MAX_FINGERPRINT_ATTRIBUTES = 1_000  # attributes of a last_known_element read (real elements have < 50)
NON_TARGET_TAGS = frozenset({
    "html", "head", "body", "script", "style", "meta", "link", "title", "noscript", "template", "base", "br",
})
INTERACTIVE_TAGS = frozenset({"a", "button", "input", "select", "textarea", "option", "summary", "label"})
_IDENTITY_KEYS = ("id", *TEST_ID_ATTRIBUTES, "name")
_LABEL_ATTRIBUTES = ("aria-label", "value", "title", "alt", "placeholder")
_INPUT_ROLES = {"button": "button", "submit": "button", "reset": "button", "image": "button",
                "checkbox": "checkbox", "radio": "radio", "range": "slider", "number": "spinbutton"}
_TAG_ROLES = {"button": "button", "select": "combobox", "textarea": "textbox", "img": "img", "ul": "list",
              "ol": "list", "li": "listitem", "nav": "navigation", "form": "form", "table": "table",
              "option": "option", "dialog": "dialog", **{f"h{level}": "heading" for level in range(1, 7)}}


@dataclass(frozen=True)
class HealResult:
    status: Literal["healed", "unhealable"]
    selector: str | None
    confidence: float
    strategy: Literal["locator"] = "locator"
    reason: str = ""
    candidates_considered: int = 0

    @property
    def ok(self) -> bool:
        return self.status == "healed"

    def as_fix(self) -> dict[str, Any] | None:
        """The `healing_completed` fix (see `payloads.HealingFix`), or None when unhealable."""
        if not self.ok:
            return None
        return {"selector": self.selector, "strategy": self.strategy, "confidence": self.confidence}


def _unhealable(reason: str, considered: int = 0) -> HealResult:
    return HealResult("unhealable", None, 0.0, reason=reason, candidates_considered=considered)


# ------------------------------------------------------------------------------------------ similarity


@functools.lru_cache(maxsize=4096)
def _char_counts(text: str) -> dict[str, int]:
    return Counter(text)


def _quick_ratio(left: str, right: str) -> float:
    """difflib's `quick_ratio`, an upper bound of `ratio`: the characters the two have in common, in any order."""
    mine, theirs = _char_counts(left), _char_counts(right)
    if len(mine) > len(theirs):
        mine, theirs = theirs, mine
    common = sum(min(count, theirs.get(char, 0)) for char, count in mine.items())
    return 2.0 * common / (len(left) + len(right))


@functools.lru_cache(maxsize=16_384)  # a page repeats its class names, roles and labels; targets are few
def similarity(a: str, b: str, bound: bool = False) -> float:
    """Case-insensitive string similarity in [0, 1]: difflib's ratio above chance, or damped word overlap.

    The word overlap catches `submit` -> `submit-button` and `Save` -> `Save changes`, which the character
    ratio scores low; the damping keeps a long container text from matching every word in it. With `bound`,
    an upper bound of it at a fraction of the cost (the ratio's own upper bound, `quick_ratio`).
    """
    left, right = a[:MAX_SIMILARITY_CHARS].strip().lower(), b[:MAX_SIMILARITY_CHARS].strip().lower()
    if not left or not right:
        return 0.0
    if left == right:
        return 1.0
    ratio = _quick_ratio(left, right) if bound else SequenceMatcher(None, left, right, autojunk=False).ratio()
    ratio = max(0.0, (ratio - RATIO_NOISE_FLOOR) / (1.0 - RATIO_NOISE_FLOOR))
    words_a, words_b = tokens(a[:MAX_SIMILARITY_CHARS]), tokens(b[:MAX_SIMILARITY_CHARS])
    if not words_a or not words_b:
        return ratio
    shorter, longer = sorted((len(words_a), len(words_b)))
    overlap = len(words_a & words_b) / shorter * math.sqrt(shorter / longer)
    return max(ratio, overlap)


def _lcs(a: tuple[str, ...], b: tuple[str, ...]) -> int:
    previous = [0] * (len(b) + 1)
    for item in a:
        current = [0]
        for position, other in enumerate(b):
            current.append(previous[position] + 1 if item == other else max(previous[position + 1], current[-1]))
        previous = current
    return previous[-1]


def _identity(expected: str, own_key: str, candidate: Element, bound: bool = False) -> float:
    """Similarity of an identifier, looked up under its own key first and under other identity keys after."""
    best = 0.0
    for key in _IDENTITY_KEYS:
        actual = candidate.id if key == "id" else candidate.attributes.get(key)
        if actual:
            factor = 1.0 if key == own_key else CROSS_KEY_FACTOR
            best = max(best, factor * similarity(expected, actual, bound))
    return best


def effective_role(element: Element) -> str | None:
    """The explicit ARIA role, else the implicit one of the tag (as Playwright's role engine sees it)."""
    if element.attributes.get("role"):
        return element.attributes["role"].split()[0].lower()
    if element.tag == "a":
        return "link" if "href" in element.attributes else None
    if element.tag == "input":
        return _INPUT_ROLES.get(element.attributes.get("type", "text").lower(), "textbox")
    return _TAG_ROLES.get(element.tag)


def _attribute_similarity(key: str, expected: str, candidate: Element, bound: bool) -> float:
    if key == "role":
        return 1.0 if effective_role(candidate) == expected.lower() else 0.0
    if key in TEST_ID_ATTRIBUTES or key == "name":
        return _identity(expected, key, candidate, bound)
    actual = candidate.attributes.get(key, "")
    if key in EXACT_ATTRIBUTES:
        return 1.0 if actual.lower() == expected.lower() else 0.0
    return similarity(expected, actual, bound)


def _attributes_similarity(expected: Mapping[str, str], candidate: Element, bound: bool) -> float:
    weights = {key: ATTRIBUTE_WEIGHTS.get(key, DEFAULT_ATTRIBUTE_WEIGHT) for key in expected}
    total = sum(weights.values())
    return sum(weights[key] * _attribute_similarity(key, value, candidate, bound)
               for key, value in expected.items()) / total


def _classes_similarity(expected: tuple[str, ...], candidate: Element, bound: bool) -> float:
    """Jaccard over build-hash-free class names, with fuzzy (similarity-weighted) intersections."""
    mine = {class_stem(name) for name in expected}
    theirs = {class_stem(name) for name in candidate.classes}
    if not theirs:
        return 0.0
    # Capped so that two target classes matching one candidate class cannot count twice.
    shared = min(len(theirs), sum(max(similarity(name, other, bound) for other in theirs) for name in mine))
    return shared / (len(mine) + len(theirs) - shared)


def _text_similarity(expected: str, candidate: Element, bound: bool) -> float:
    attributes = candidate.attributes
    labels = [candidate.text, *(attributes[name] for name in _LABEL_ATTRIBUTES if name in attributes)]
    return max(similarity(expected, label, bound) for label in labels)


def _common(a: tuple[str, ...], b: tuple[str, ...]) -> int:
    """The tags two paths have in common, in any order: an upper bound of their LCS."""
    return sum((Counter(a) & Counter(b)).values())


def _path_similarity(target: Fingerprint, candidate: Element, bound: bool) -> float:
    path = candidate.lineage.tags(MAX_PATH_TAGS + 1)
    common = _common if bound else _lcs
    if target.partial_path:  # ancestor hints from a selector: how many of them the candidate's ancestry has
        return common(target.path, path[:-1]) / len(target.path)
    path = path[-MAX_PATH_TAGS:]
    return 2 * common(target.path, path) / (len(target.path) + len(path))


def score(candidate: Element, target: Fingerprint, bound: bool = False) -> float:
    """How much `candidate` looks like `target`, in [0, 1] (1 for an element with all the target's traits).

    With `bound`, an upper bound of the score (each component at most its exact value, the weighting the
    same), for a few microseconds: `_ranked` scores exactly only the candidates whose bound can still win.
    """
    parts: list[tuple[float, float]] = []
    if target.tag:
        parts.append((TAG_WEIGHT, 1.0 if candidate.tag == target.tag else 0.0))
    if target.id:
        parts.append((ID_WEIGHT, _identity(target.id, "id", candidate, bound)))
    if target.classes:
        parts.append((CLASS_WEIGHT, _classes_similarity(target.classes, candidate, bound)))
    if target.text:
        parts.append((TEXT_WEIGHT, _text_similarity(target.text, candidate, bound)))
    if target.attributes:
        parts.append((ATTRIBUTE_WEIGHT, _attributes_similarity(target.attributes, candidate, bound)))
    if target.path:
        parts.append((PATH_WEIGHT, _path_similarity(target, candidate, bound)))
    total = sum(weight for weight, _ in parts)
    return min(1.0, max(0.0, sum(weight * value for weight, value in parts) / total)) if total else 0.0


# ------------------------------------------------------------------------------------------ fingerprints


def _text(value: Any) -> str:
    return value[:MAX_SELECTOR_CHARS].strip() if isinstance(value, str) else ""


def fingerprint_from_element(known: Mapping[str, Any]) -> Fingerprint:
    """The fingerprint of a `last_known_element` payload; malformed fields are dropped, never fatal."""
    raw_classes = known.get("classes")
    if isinstance(raw_classes, str):
        raw_classes = raw_classes.split()
    classes = tuple(name[:MAX_SELECTOR_CHARS] for name in raw_classes[:MAX_FINGERPRINT_CLASSES]
                    if isinstance(name, str) and name.strip()) if isinstance(raw_classes, list | tuple) else ()
    raw_attributes = known.get("attributes")
    attributes = {
        key.lower(): str(value)[:MAX_SELECTOR_CHARS]
        for key, value in itertools.islice(raw_attributes.items(), MAX_FINGERPRINT_ATTRIBUTES)
        if isinstance(key, str) and key.lower() in INTERESTING_ATTRIBUTES and _scalar(value) and str(value)
    } if isinstance(raw_attributes, Mapping) else {}
    raw_path = known.get("path")
    raw_path = raw_path[:MAX_SELECTOR_CHARS] if isinstance(raw_path, str | list) else ""
    steps = raw_path.split(">") if isinstance(raw_path, str) else raw_path
    path = tuple(_text(step).lower() for step in steps if _text(step))
    return Fingerprint(
        tag=_text(known.get("tag")).lower() or None,
        id=_text(known.get("id")) or None,
        classes=classes,
        text=collapse(_text(known.get("text")))[:MAX_TEXT_CHARS] or None,
        attributes=attributes,
        path=path[-MAX_PATH_TAGS:],
    )


def _scalar(value: Any) -> bool:
    """A string or a number a JSON producer may have written for an attribute (True/False are not values)."""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        return False
    return not isinstance(value, int) or abs(value) < 10 ** 18  # str() of a 5,000-digit int raises


def _target(details: Mapping[str, Any], selector: str) -> Fingerprint:
    known = details.get("last_known_element")
    if isinstance(known, Mapping):
        fingerprint = fingerprint_from_element(known)
        if not fingerprint.is_empty:
            return fingerprint
    return fingerprint_from_selector(selector)


# ------------------------------------------------------------------------------------------ healing


@dataclass(frozen=True)
class _Scored:
    element: Element
    score: float
    rank: tuple[float, bool, int] = field(init=False)

    def __post_init__(self) -> None:
        # Ties go to the interactive element, then to the deepest: `<a><span>Go</span></a>` heals to the link.
        interactive = self.element.tag in INTERACTIVE_TAGS or "role" in self.element.attributes
        object.__setattr__(self, "rank", (round(self.score, 6), interactive, self.element.depth))


def heal(failure_details: Mapping[str, Any], threshold: float = DEFAULT_THRESHOLD,
         deadline: Deadline | None = None) -> HealResult:
    """Heal the failed selector of `failure_details` against its `dom_snapshot`. Raises only `HealingTimeout`:
    when the work passes `deadline` (by default HEAL_CPU_BUDGET_S of this thread's CPU from now)."""
    deadline = deadline or Deadline(HEAL_CPU_BUDGET_S)
    try:
        return _heal(failure_details, threshold, deadline)
    except HealingTimeout:
        raise
    except Exception as exc:  # noqa: BLE001 - a healing strategy must never break the job
        return _unhealable(f"locator healing failed on malformed input ({type(exc).__name__})")


def _score_key(target: Fingerprint) -> Callable[[Element], tuple[Any, ...]]:
    """What `score(candidate, target)` reads of a candidate: candidates with the same key score the same.

    Most elements of a page share their traits with many others (a row's cells, its buttons), so scoring
    one per key instead of every one saves most of the scoring work, difflib's above all.
    """
    names: list[str] = []  # the attributes score() looks up
    if target.id or any(key in TEST_ID_ATTRIBUTES or key == "name" for key in target.attributes):
        names += _IDENTITY_KEYS[1:]
    if target.text:
        names += _LABEL_ATTRIBUTES
    names += [key for key in target.attributes if key != "role"]
    role = "role" in target.attributes
    if role:
        names += ["role", "type"]
    lookups = tuple(dict.fromkeys(names))
    paths: dict[Lineage, tuple[str, ...]] = {}

    def path_of(lineage: Lineage) -> tuple[str, ...]:
        # lineage.tags(MAX_PATH_TAGS + 1), from the parent's (shared by all its children)
        found = paths.get(lineage)
        if found is None:
            found = paths[lineage] = (lineage.tags(MAX_PATH_TAGS + 1) if lineage.up is None or lineage.up not in paths
                                      else (*paths[lineage.up][-MAX_PATH_TAGS:], lineage.tag))
        return found

    def key(candidate: Element) -> tuple[Any, ...]:
        attributes = candidate.attributes
        return (candidate.tag, candidate.id if lookups else None, candidate.classes if target.classes else None,
                candidate.text if target.text else None, tuple(map(attributes.get, lookups)) if lookups else (),
                role and "href" in attributes, path_of(candidate.lineage) if target.path else None)

    return key


def _heal(details: Mapping[str, Any], threshold: float, deadline: Deadline) -> HealResult:
    if not isinstance(details, Mapping):
        return _unhealable("failure_details is not a mapping")
    selector, dom = details.get("selector"), details.get("dom_snapshot")
    if not isinstance(selector, str) or not selector.strip():
        return _unhealable("no failed selector to heal")
    if len(selector) > MAX_SELECTOR_CHARS:
        return _unhealable(f"the failed selector is longer than {MAX_SELECTOR_CHARS} characters")
    if not isinstance(dom, str) or not dom.strip():
        return _unhealable("no DOM snapshot to search")
    truncated = len(dom) > MAX_DOM_CHARS
    target = _target(details, selector.strip())
    if target.is_empty:
        return _unhealable(f"nothing to match: the selector {selector.strip()!r} could not be understood")
    elements = parse_dom(dom[:MAX_DOM_CHARS], deadline)
    truncated = truncated or elements.cut
    with collector_paused():
        ranked = _ranked(elements, target, deadline, threshold)
    if ranked is None:
        return _unhealable("the DOM snapshot has no candidate elements")
    return _decide(ranked, elements, selector.strip(), threshold, truncated, deadline)


@dataclass(frozen=True)
class _Ranking:
    best: _Scored | None  # None: no candidate reaches the threshold (`best_at_most` says how far it was)
    rival: _Scored | None
    considered: int
    best_at_most: float = 0.0  # without a best: no candidate scores more than this
    rival_at_most: float | None = None  # when set, the rival is not known exactly: none scores more than this


def _ranked(elements: list[Element], target: Fingerprint, deadline: Deadline, threshold: float | None = None
            ) -> _Ranking | None:
    """The best candidate, its rival (the best one not nested in or around it) and the number of candidates;
    None without candidates. In rank order, ties go to the first in document order.

    Candidates with the same traits (`_score_key`) share one score. The exact scores (difflib's ratio, tens
    of microseconds each) are computed in the order of their upper bounds (`score(..., bound=True)`, a few
    microseconds), best first, and no further once no bound left can beat the rival: the same ranking as
    scoring every candidate, for the few that can still matter. With a `threshold`, scoring also stops once
    the decision is known: no bound left reaches the threshold while the best so far is below it (then no
    best), or none comes within AMBIGUITY_MARGIN of the best (then the rival is only bounded).
    """
    key_of = _score_key(target)
    groups: dict[tuple[Any, ...], list[int]] = {}  # trait key -> the candidates (positions) that have it
    candidates: list[Element] = []
    for element in elements:
        if element.tag in NON_TARGET_TAGS:
            continue
        deadline.tick()
        positions = groups.setdefault(key_of(element), [])
        positions.append(len(candidates))
        candidates.append(element)
    if not candidates:
        return None
    bounds: list[tuple[float, tuple[Any, ...]]] = []
    for key, positions in groups.items():
        deadline.tick()
        bounds.append((score(candidates[positions[0]], target, bound=True), key))
    bounds.sort(key=lambda item: -item[0])  # stable: equal bounds keep document order
    ranks: dict[int, tuple[float, bool, int]] = {}  # position -> rank, for the candidates scored so far
    scores: dict[tuple[Any, ...], float] = {}
    top = best_score = -1.0  # the best rounded score so far, and unrounded
    winner: int | None = None
    rival = -1
    first = last = -1

    def apart(position: int) -> bool:  # neither nested in the winner nor around it
        element = candidates[position]
        if last >= 0 and element.last_descendant >= 0:
            return not (element.index < first <= element.last_descendant or first < element.index <= last)
        return not is_nested(candidates[winner], element, elements)  # type: ignore[index]

    for number, (bound, key) in enumerate(bounds):
        if bound > 0:
            deadline.check()  # one score may cost milliseconds (difflib): the clock is read every time
            value = score(candidates[groups[key][0]], target)
        else:
            deadline.tick()
            value = 0.0  # a score is never below 0
        scores[key] = value
        rounded = round(value, 6)
        top, best_score = max(top, rounded), max(best_score, value)
        for position in groups[key]:
            element = candidates[position]
            rank = ranks[position] = (rounded, element.tag in INTERACTIVE_TAGS or "role" in element.attributes,
                                      element.depth)
            if winner is not None and position != winner and apart(position) and (
                    rival < 0 or rank > ranks[rival] or (rank == ranks[rival] and position < rival)):
                rival = position
        exact_remaining = bounds[number + 1][0] if number + 1 < len(bounds) else -1.0
        remaining = round(exact_remaining, 6)
        if threshold is not None and winner is None and best_score < threshold and exact_remaining < threshold:
            return _Ranking(None, None, len(candidates), best_at_most=max(best_score, exact_remaining))
        if winner is None and remaining < top:  # no candidate left can reach the best: it is settled
            for position in sorted(ranks):
                if winner is None or ranks[position] > ranks[winner]:
                    winner = position
            first, last = candidates[winner].index, candidates[winner].last_descendant  # type: ignore[index]
            for position in sorted(ranks):
                deadline.tick()
                if position != winner and apart(position) and (rival < 0 or ranks[position] > ranks[rival]):
                    rival = position
        if winner is not None and rival >= 0 and remaining < ranks[rival][0]:
            break  # nor the rival: every candidate left ranks below both
        if (threshold is not None and winner is not None
                and exact_remaining < scores[key_of(candidates[winner])] - AMBIGUITY_MARGIN):
            rival_score = scores[key_of(candidates[rival])] if rival >= 0 else -1.0
            return _Ranking(_Scored(candidates[winner], scores[key_of(candidates[winner])]),
                            _Scored(candidates[rival], rival_score) if rival >= 0 else None, len(candidates),
                            rival_at_most=max(rival_score, exact_remaining))
    assert winner is not None  # settled at the latest by the last bound (remaining = -1)
    return _Ranking(_Scored(candidates[winner], scores[key_of(candidates[winner])]),
                    _Scored(candidates[rival], scores[key_of(candidates[rival])]) if rival >= 0 else None,
                    len(candidates))


def _decide(ranked: _Ranking, elements: list[Element], original: str, threshold: float, truncated: bool,
            deadline: Deadline) -> HealResult:
    note = " (DOM snapshot truncated)" if truncated else ""
    best, rival, considered = ranked.best, ranked.rival, ranked.considered
    if best is None:
        return _unhealable(f"no element is similar enough: best score at most {ranked.best_at_most:.2f} < threshold "
                           f"{threshold:.2f}{note}", considered)
    if best.score < threshold:
        return _unhealable(f"no element is similar enough: best score {best.score:.2f} < threshold "
                           f"{threshold:.2f}{note}", considered)
    if rival is not None and best.score - rival.score < AMBIGUITY_MARGIN:
        return _unhealable(f"ambiguous: two elements score {best.score:.2f} and {rival.score:.2f} "
                           f"(margin {AMBIGUITY_MARGIN:.2f}){note}", considered)
    healed = selector_for(best.element, elements, deadline)
    if healed is None:
        return _unhealable(f"<{best.element.tag}> scored {best.score:.2f} but has no stable selector (no unique "
                           f"path within {MAX_PATH_STEPS} ancestors){note}", considered)
    if healed == original or is_unique(original, best.element, elements, deadline):
        return _unhealable(f"the failed selector still selects the best match (score {best.score:.2f}); "
                           f"the failure is not a broken locator", considered)
    return HealResult("healed", healed, round(best.score, 3), reason=(
        f"<{best.element.tag}> scored {best.score:.2f} against the target (runner-up "
        f"{_runner_up(ranked)}) among {considered} candidates{note}"), candidates_considered=considered)


def _runner_up(ranked: _Ranking) -> str:
    if ranked.rival_at_most is not None and ranked.rival_at_most > 0:
        return f"at most {max(0.0, ranked.rival_at_most):.2f}"
    return f"{ranked.rival.score if ranked.rival else 0.0:.2f}"
