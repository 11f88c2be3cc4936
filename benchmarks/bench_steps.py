"""The measured phases of `bench.py`: warm-up, one-at-a-time orders, rate steps and the sweep."""

from __future__ import annotations

import asyncio
import gc
import math
import time
from dataclasses import dataclass, field

import numpy as np
from http_client import Poster
from live_stream import LAP_GAP_MS, LiveStream, say, write_marker
from load import WARMUP_CLIENTS, Run, Sample, closed_loop, encoded, open_loop, timed

from service.settings import ServiceSettings

# Between two steps: the server finishes what the last one left (updates, checkpoints).
PAUSE_S = 1.0


class OutOfTime(RuntimeError):
    """Raised when the next orders would lie in the future, where the service refuses them."""


@dataclass
class Feed:
    """The requests of one data dir, each handed out once, in time order."""

    settings: ServiceSettings
    stream: LiveStream
    used: int = 0

    def room(self) -> int:
        """Return how many more orders fit before now."""
        return self.stream.fits_before(int(time.time() * 1000)) - self.used

    def take(self, count: int) -> tuple[range, list[bytes]]:
        """Return the stream numbers and the bodies of the next `count` orders."""
        if count > self.room():
            raise OutOfTime(
                f"the replay of {self.settings.data_dir} reached the present: "
                "remove it so that it is prepared again"
            )
        indices = range(self.used, self.used + count)
        self.used += count
        return indices, list(encoded(self.stream, indices))

    def save(self) -> None:
        """Record how far this run replayed, so the next run sends later orders."""
        if self.used:
            write_marker(
                self.settings, self.stream.last_ms(self.used) + LAP_GAP_MS, self.stream.batch
            )


@dataclass(frozen=True)
class Step:
    """One open-loop rate held for a duration, and what it measured."""

    rate: float
    duration: float
    run: Run

    @property
    def ok(self) -> list[Sample]:
        """Return the answered requests."""
        return [s for s in self.run.samples if s.ok]

    @property
    def failed(self) -> int:
        """Return how many requests got no decision."""
        return sum(not s.ok for s in self.run.samples)

    @property
    def degraded(self) -> int:
        """Return how many decisions were taken without some part (e.g. the online read)."""
        return sum(s.degraded for s in self.run.samples)

    def p(self, point: float) -> float:
        """Return a percentile of the whole-call latency of answered requests (ms)."""
        latencies = [s.latency_ms for s in self.ok]
        return float(np.percentile(latencies, point)) if latencies else math.nan

    def cpu_ms_per_order(self) -> float:
        """Return the server processes' CPU time per answered order (ms)."""
        return self.run.server_cpu_s * 1000 / len(self.ok) if self.ok else math.nan

    def over(self, limit_ms: float) -> bool:
        """Return whether this rate is past the limit: p99 above it, or any order not normal."""
        return not self.p(99) <= limit_ms or self.failed > 0 or self.degraded > 0


@dataclass(frozen=True)
class Plan:
    """What the load phases do, in orders, rates and seconds."""

    warmup: int
    serial: int
    rates: tuple[float, ...]
    duration: float
    sweep_start: float
    sweep_step: float
    sweep_max: float
    sweep_duration: float
    limit_ms: float
    cpu_rate: float

    def orders(self) -> int:
        """Return the orders of the warm-up, the one-at-a-time phase and the rate steps."""
        steps = sum(math.ceil(r * self.duration) for r in self.rates)
        return self.warmup + self.serial + steps


@dataclass
class Session:
    """The phases one server set ran, in order."""

    warm: Run | None = None
    serial: Run | None = None
    serial_indices: range = range(0)
    steps: list[Step] = field(default_factory=list)
    sweep: list[Step] = field(default_factory=list)


async def warm_up(client: Poster, feed: Feed, count: int, pids: tuple[int, ...]) -> Run:
    """Send `count` orders from a few back-to-back clients; leave no backlog behind."""
    _, bodies = feed.take(count)
    run = await timed(closed_loop(client, iter(bodies), WARMUP_CLIENTS, math.inf), *pids)
    # Keep the collector's full passes over everything built so far out of the timings.
    gc.collect()
    gc.freeze()
    return run


async def one_at_a_time(
    client: Poster, feed: Feed, count: int, pids: tuple[int, ...]
) -> tuple[range, Run]:
    """Send `count` orders one after the other; return their stream numbers and samples."""
    indices, bodies = feed.take(count)
    return indices, await timed(closed_loop(client, iter(bodies), 1, math.inf), *pids)


async def step(
    client: Poster, feed: Feed, rate: float, duration: float, pids: tuple[int, ...]
) -> Step:
    """Hold one open-loop rate for `duration` seconds."""
    _, bodies = feed.take(math.ceil(rate * duration))
    await asyncio.sleep(PAUSE_S)
    gc.collect()
    measured = Step(rate, duration, await timed(open_loop(client, bodies, rate), *pids))
    failed = f", {measured.failed} failed" if measured.failed else ""
    say(f"{rate:g}/s for {duration:g} s: p99 {measured.p(99):.2f} ms{failed}")
    return measured


async def sweep(client: Poster, feed: Feed, plan: Plan, pids: tuple[int, ...]) -> list[Step]:
    """Raise the rate step by step until p99 passes the limit or an order is not normal."""
    steps: list[Step] = []
    rate = plan.sweep_start
    while rate <= plan.sweep_max:
        steps.append(await step(client, feed, rate, plan.sweep_duration, pids))
        if steps[-1].over(plan.limit_ms):
            break
        rate += plan.sweep_step
    return steps


def crossing(steps: list[Step], limit_ms: float) -> tuple[Step | None, Step | None]:
    """Return the last step under the limit before the first over it, and that first one."""
    under = None
    for measured in steps:
        if measured.over(limit_ms):
            return under, measured
        under = measured
    return under, None
