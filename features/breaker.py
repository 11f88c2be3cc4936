"""A circuit breaker for the online store: stop calling a dead store, probe it back.

After `failures` calls in a row fail, the breaker opens: calls fail at once,
without touching the store, for `reset_seconds`. Then exactly one call (the
probe) is let through; its success closes the breaker, its failure opens it
for another period. Recovery needs no restart and no operator.

Not pybreaker: it holds one lock across every guarded call, which would
serialise all of a process's store round trips, and it lets every call through
while half open, so a store that just came back takes the whole backlog at once.
Here the lock guards only the counters, and only the probe passes while half open.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Literal, TypeVar

T = TypeVar("T")
BreakerState = Literal["closed", "open", "half_open"]


class BreakerOpen(RuntimeError):
    """Raised instead of calling a store the breaker holds to be down."""


class CircuitBreaker:
    """Counts consecutive failures of calls to one dependency and opens on too many."""

    def __init__(
        self,
        failures: int,
        reset_seconds: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._failures_to_open = failures
        self._reset_seconds = reset_seconds
        self._clock = clock
        self._lock = threading.Lock()
        self._failures = 0
        self._opened_at: float | None = None
        self._probing = False

    @property
    def state(self) -> BreakerState:
        """Return closed, open, or half_open (the next call would be a probe)."""
        with self._lock:
            if self._opened_at is None:
                return "closed"
            if self._probing or self._clock() - self._opened_at >= self._reset_seconds:
                return "half_open"
            return "open"

    def call(self, work: Callable[[], T]) -> T:
        """Run `work` unless the breaker is open; count its success or failure."""
        probe = self._admit()
        try:
            result = work()
        except Exception:
            self._failed(probe)
            raise
        self._succeeded(probe)
        return result

    def _admit(self) -> bool:
        """Return whether this call is the probe; raise `BreakerOpen` if it may not run."""
        with self._lock:
            if self._opened_at is None:
                return False
            waited = self._clock() - self._opened_at
            if self._probing or waited < self._reset_seconds:
                raise BreakerOpen(f"online store circuit open for {waited:.1f} s")
            self._probing = True
            return True

    def _failed(self, probe: bool) -> None:
        with self._lock:
            self._failures += 1
            if probe:
                self._probing = False
            if probe or self._failures >= self._failures_to_open:
                self._opened_at = self._clock()

    def _succeeded(self, probe: bool) -> None:
        with self._lock:
            self._failures = 0
            if probe or self._opened_at is not None:
                self._opened_at = None
                self._probing = False
