"""Bounded work per healing record: the errors a record the healing logic cannot use raises, and a CPU deadline.

    EventValidationError
    └── HealingInputError     a healing record whose fields cannot be used (names the field)
        └── HealingTimeout    the record's healing work ran past its CPU budget

The healer's CPU work runs in worker threads that no timeout can cancel, so the parser, the scorer and the
matcher check a `Deadline` in their loops and give up by raising `HealingTimeout`: a hostile record costs at
most its budget, never a stalled operator.
"""

from __future__ import annotations

import gc
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

from argus_streams.errors import EventValidationError

# CPU seconds of one record's locator healing, for issue 14's 100 ms a record: the work between two checks of
# the clock and the collector's pass when the parse ends add up to ~12 ms. Within it (median of 3, idle 2-core
# machine, bench/healing_cpu.py): against 5,000 elements (dom.MAX_ELEMENTS) a selector naming a test id takes
# 30-67 ms, one naming a text 69-78 ms (3,000 card-like elements) or gives up (5,000); a full
# last_known_element (tag, text, classes, path, test id, label) takes 30-66 ms against 1,500 elements and gives
# up against 3,000 elements that all differ. Any hostile record gives up here.
HEAL_CPU_BUDGET_S = 0.085
# The clock is read once per this many ticks: thread_time() costs ~0.3 us, a tick is a few attribute reads.
TICKS_PER_CHECK = 64


class HealingInputError(EventValidationError):
    """A healing record (or one of its fields) the healing logic cannot use."""


class HealingTimeout(HealingInputError):
    """The healing work of one record ran past its CPU budget."""


class Deadline:
    """A CPU-time budget of the current thread (wall time would also count the other threads of a worker)."""

    __slots__ = ("budget_s", "field", "_end", "_ticks")

    def __init__(self, budget_s: float = HEAL_CPU_BUDGET_S, field: str = "payload.failure_details"):
        self.budget_s = budget_s
        self.field = field
        self._end = time.thread_time() + budget_s
        self._ticks = 0

    def tick(self) -> None:
        """Count one unit of work; every TICKS_PER_CHECK units, raise `HealingTimeout` past the budget."""
        self._ticks += 1
        if self._ticks % TICKS_PER_CHECK == 0:
            self.check()

    def check(self) -> None:
        if time.thread_time() > self._end:
            raise HealingTimeout(self.field, f"healing gave up after {self.budget_s:g} s of CPU")


def tick(deadline: Deadline | None) -> None:
    if deadline is not None:
        deadline.tick()


_collector_lock = threading.Lock()
_collector_pauses = 0
_collector_was_enabled = False


@contextmanager
def collector_paused() -> Iterator[None]:
    """CPython's cyclic garbage collector paused (across threads: until the last pause ends).

    Parsing a snapshot creates tens of thousands of objects that all live on; the collector traverses them
    again and again while they are made (half the CPU of parsing a 1 MB snapshot). None of them form cycles,
    so nothing is left for the collector that it would have freed sooner.
    """
    global _collector_pauses, _collector_was_enabled
    with _collector_lock:
        if _collector_pauses == 0:
            _collector_was_enabled = gc.isenabled()
            gc.disable()
        _collector_pauses += 1
    try:
        yield
    finally:
        with _collector_lock:
            _collector_pauses -= 1
            if _collector_pauses == 0 and _collector_was_enabled:
                gc.enable()
