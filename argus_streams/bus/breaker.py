"""A circuit breaker: after repeated failures it fails fast, then lets one probe through."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from enum import StrEnum

from argus_streams.errors import CircuitOpenError

DEFAULT_FAILURE_THRESHOLD = 5
DEFAULT_RESET_TIMEOUT_S = 10.0


class BreakerState(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class CircuitBreaker:
    """Closed → (threshold consecutive failures) → open → (reset timeout) → half-open → one probe.

    A probe that succeeds closes the circuit; one that fails opens it again for another timeout. A probe that
    reports neither within the reset timeout is lost (its caller died or raised past the breaker): the next call
    probes instead, so one lost probe never holds the circuit open for good.
    """

    def __init__(
        self,
        name: str,
        failure_threshold: int = DEFAULT_FAILURE_THRESHOLD,
        reset_timeout_s: float = DEFAULT_RESET_TIMEOUT_S,
        clock: Callable[[], float] = time.monotonic,
        on_change: Callable[[BreakerState], None] | None = None,
    ):
        self.name = name
        self.failure_threshold = failure_threshold
        self.reset_timeout_s = reset_timeout_s
        self._clock = clock
        self._on_change = on_change
        self._lock = threading.Lock()
        self._state = BreakerState.CLOSED
        self._failures = 0
        self._opened_at = 0.0
        self._probing = False
        self._probe_started = 0.0
        self.last_error: BaseException | None = None

    @property
    def state(self) -> BreakerState:
        with self._lock:
            return self._current()

    def before_call(self) -> None:
        """Raise `CircuitOpenError` unless a call may go through now."""
        with self._lock:
            state = self._current()
            if state is BreakerState.CLOSED:
                return
            if state is BreakerState.HALF_OPEN and (
                not self._probing or self._clock() >= self._probe_started + self.reset_timeout_s
            ):
                self._probing = True
                self._probe_started = self._clock()
                return
            remaining = max(0.0, self._opened_at + self.reset_timeout_s - self._clock())
            raise CircuitOpenError(
                f"circuit '{self.name}' is open after {self._failures} consecutive failures "
                f"(last: {self.last_error!r}); next probe in {remaining:.1f}s"
            )

    def record_success(self) -> None:
        with self._lock:
            self._failures = 0
            self._probing = False
            self._set(BreakerState.CLOSED)

    def record_failure(self, error: BaseException) -> None:
        with self._lock:
            self.last_error = error
            self._failures += 1
            state = self._current()
            if state is BreakerState.HALF_OPEN or self._failures >= self.failure_threshold:
                self._opened_at = self._clock()
                self._probing = False
                self._set(BreakerState.OPEN)

    def _current(self) -> BreakerState:
        if self._state is BreakerState.OPEN and self._clock() >= self._opened_at + self.reset_timeout_s:
            self._set(BreakerState.HALF_OPEN)
        return self._state

    def _set(self, state: BreakerState) -> None:
        if state is not self._state:
            self._state = state
            if self._on_change:
                self._on_change(state)
