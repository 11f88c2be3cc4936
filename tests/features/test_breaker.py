"""The circuit breaker: opens on failures in a row, lets exactly one probe through, closes on it."""

from __future__ import annotations

import pytest

from features.breaker import BreakerOpen, CircuitBreaker


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def state_of(breaker: CircuitBreaker) -> str:
    return breaker.state


def fail() -> None:
    raise ConnectionError("down")


def test_it_opens_after_failures_in_a_row_and_then_calls_nothing() -> None:
    clock = Clock()
    breaker = CircuitBreaker(3, 1.0, clock)
    for _ in range(2):
        with pytest.raises(ConnectionError):
            breaker.call(fail)
    assert breaker.call(lambda: "ok") == "ok"  # a success resets the count
    for _ in range(3):
        with pytest.raises(ConnectionError):
            breaker.call(fail)
    assert state_of(breaker) == "open"
    calls = []
    with pytest.raises(BreakerOpen):
        breaker.call(lambda: calls.append(1))
    assert calls == []


def test_only_one_probe_passes_and_its_outcome_decides() -> None:
    clock = Clock()
    breaker = CircuitBreaker(1, 1.0, clock)
    with pytest.raises(ConnectionError):
        breaker.call(fail)
    clock.now = 1.0
    assert state_of(breaker) == "half_open"

    def probe() -> str:
        # While the probe runs, every other call is refused.
        with pytest.raises(BreakerOpen):
            breaker.call(lambda: "second")
        return "probed"

    assert breaker.call(probe) == "probed"
    assert state_of(breaker) == "closed"
    with pytest.raises(ConnectionError):
        breaker.call(fail)
    clock.now = 2.5
    with pytest.raises(ConnectionError):
        breaker.call(fail)  # a failed probe opens it for another period
    assert state_of(breaker) == "open"
    clock.now = 3.0
    with pytest.raises(BreakerOpen):
        breaker.call(lambda: "too early")
