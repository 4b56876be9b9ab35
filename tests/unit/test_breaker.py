from __future__ import annotations

import pytest

from argus_streams.bus.breaker import BreakerState, CircuitBreaker
from argus_streams.errors import CircuitOpenError


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_opens_after_threshold_then_fails_fast() -> None:
    breaker = CircuitBreaker("b", failure_threshold=3, reset_timeout_s=10, clock=FakeClock())
    for _ in range(2):
        breaker.before_call()
        breaker.record_failure(OSError("down"))
    assert breaker.state is BreakerState.CLOSED
    breaker.record_failure(OSError("down"))
    assert breaker.state is BreakerState.OPEN
    with pytest.raises(CircuitOpenError, match="3 consecutive failures"):
        breaker.before_call()


def test_success_resets_the_count() -> None:
    breaker = CircuitBreaker("b", failure_threshold=2, clock=FakeClock())
    breaker.record_failure(OSError())
    breaker.record_success()
    breaker.record_failure(OSError())
    assert breaker.state is BreakerState.CLOSED


def test_half_open_lets_exactly_one_probe_through() -> None:
    clock = FakeClock()
    breaker = CircuitBreaker("b", failure_threshold=1, reset_timeout_s=5, clock=clock)
    breaker.record_failure(OSError())
    clock.now = 5.0
    assert breaker.state is BreakerState.HALF_OPEN
    breaker.before_call()
    with pytest.raises(CircuitOpenError):
        breaker.before_call()


@pytest.mark.parametrize(("probe_ok", "final"), [(True, BreakerState.CLOSED), (False, BreakerState.OPEN)])
def test_probe_outcome_closes_or_reopens(probe_ok: bool, final: BreakerState) -> None:
    clock = FakeClock()
    changes: list[BreakerState] = []
    breaker = CircuitBreaker("b", failure_threshold=1, reset_timeout_s=5, clock=clock, on_change=changes.append)
    breaker.record_failure(OSError())
    clock.now = 6.0
    breaker.before_call()
    if probe_ok:
        breaker.record_success()
    else:
        breaker.record_failure(OSError())
    assert breaker.state is final
    assert changes == [BreakerState.OPEN, BreakerState.HALF_OPEN, final]


def test_a_lost_probe_does_not_hold_the_circuit_open_for_good() -> None:
    """A probe whose caller never reports (it raised past the breaker, or died) is given up after the reset
    timeout: the next call probes instead of failing fast forever."""
    clock = FakeClock()
    breaker = CircuitBreaker("b", failure_threshold=1, reset_timeout_s=5, clock=clock)
    breaker.record_failure(OSError())
    clock.now = 5.0
    breaker.before_call()  # the probe that is lost
    clock.now = 9.9
    with pytest.raises(CircuitOpenError):
        breaker.before_call()
    clock.now = 10.0
    breaker.before_call()  # a new probe
    breaker.record_success()
    assert breaker.state is BreakerState.CLOSED
