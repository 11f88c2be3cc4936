"""Probes of the dependencies /readyz reports, each answered within a bounded wait.

A probe runs on a small pool of its own, never on the scoring threads. A
readiness request waits for a fresh answer at most `READY_BUDGET_S`; a probe
that takes longer (a paused database holds a connect for seconds) keeps
running while the request answers with the last result, marked with its age;
once that age passes `stale_after_s` the dependency counts as failed (a hung
database must not keep reading as up). At most one probe of each dependency
runs at a time, so a load balancer asking every second cannot pile up threads
behind a hung dependency. The background chore runs the same probes every
`health_probe_seconds`, which is also what probes the online store's open
circuit breaker back to closed.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

from sqlalchemy import Engine

from features.online import OnlineFeatures
from service.persistence.db import ping_writer

READY_BUDGET_S = 0.05
# How long the database probe may wait for the writer.
PROBE_WRITE_S = 0.5


@dataclass(frozen=True)
class Check:
    """One dependency's last answer: whether it is usable, why not, and when it was asked."""

    ok: bool
    detail: str | None
    at: float

    def age_ms(self) -> float:
        """Return how long ago the answer came."""
        return (time.monotonic() - self.at) * 1000


class Probes:
    """The database and the online store, each probed by at most one thread at a time."""

    def __init__(self, engine: Engine, features: OnlineFeatures, stale_after_s: float) -> None:
        self._probes: dict[str, Callable[[], str | None]] = {
            "database": lambda: (
                None if ping_writer(engine, PROBE_WRITE_S) else "cannot begin a write transaction"
            ),
            "feature_store": features.ping,
        }
        self._pool = ThreadPoolExecutor(len(self._probes), thread_name_prefix="probe")
        self._lock = threading.Lock()
        self._running: dict[str, Future[Check]] = {}
        self._last = {
            name: Check(False, "not probed yet", time.monotonic()) for name in self._probes
        }
        self._stale_after_s = stale_after_s

    async def check(self, budget_s: float = READY_BUDGET_S) -> dict[str, Check]:
        """Return every dependency's answer: fresh if it comes within `budget_s`, else the last."""
        futures = {name: asyncio.wrap_future(self._start(name)) for name in self._probes}
        await asyncio.wait(futures.values(), timeout=budget_s)
        return {
            name: future.result() if future.done() else self._waiting(name)
            for name, future in futures.items()
        }

    def _waiting(self, name: str) -> Check:
        """Return the last answer of a probe still running; one too old counts as a failure."""
        last = self._last[name]
        if last.age_ms() > self._stale_after_s * 1000:
            return Check(False, f"no answer for {last.age_ms():.0f} ms", last.at)
        return last

    def close(self) -> None:
        """Stop the probe threads (a hung probe is left to finish on its own)."""
        self._pool.shutdown(wait=False, cancel_futures=True)

    def _start(self, name: str) -> Future[Check]:
        with self._lock:
            running = self._running.get(name)
            if running is None or running.done():
                running = self._running[name] = self._pool.submit(self._probe, name)
            return running

    def _probe(self, name: str) -> Check:
        try:
            problem = self._probes[name]()
        except Exception as error:  # a probe reports, it never raises
            problem = f"{type(error).__name__}: {error}"
        result = Check(problem is None, problem, time.monotonic())
        self._last[name] = result
        return result
