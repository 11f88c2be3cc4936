"""The soak's plan and its report as it runs: one row per interval of due times."""

from __future__ import annotations

import asyncio
import math
import time
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from load import Sample
from machine import memory_kib, percentiles


@dataclass(frozen=True)
class Plan:
    """The load and the outages, in seconds from the first request's due time."""

    rate: float
    duration: float
    kills: tuple[float, ...]
    outage: float
    timeout: float
    interval: float

    @property
    def count(self) -> int:
        """Return the number of requests of the run."""
        return math.ceil(self.rate * self.duration)


@dataclass(frozen=True)
class Outage:
    """When Redis was killed and when it answered again, in seconds from t0."""

    killed: float
    back: float


class Tally:
    """The samples of the run by the row their due time falls in, as they complete."""

    def __init__(self, t0: float, plan: Plan) -> None:
        self.t0 = t0
        self.plan = plan
        self.expected = Counter(self.row_of(i / plan.rate) for i in range(plan.count))
        self.rows: defaultdict[int, list[Sample]] = defaultdict(list)

    def row_of(self, seconds: float) -> int:
        """Return the row of a due time (seconds from t0)."""
        return int(seconds // self.plan.interval)

    def add(self, sample: Sample) -> None:
        """File a completed sample under its row."""
        index = round((sample.due - self.t0) * self.plan.rate)  # exact: due = t0 + i / rate
        self.rows[self.row_of(index / self.plan.rate)].append(sample)

    def complete(self, row: int) -> bool:
        """Return whether every request due in the row has ended."""
        return len(self.rows[row]) >= self.expected[row]


def summary(samples: Sequence[Sample]) -> str:
    """Return the counts and the latency of the ok ones, on one line."""
    ok = [s.latency_ms for s in samples if s.ok]
    timed_out = sum(s.timed_out for s in samples)
    failed = len(samples) - len(ok) - timed_out
    degraded = sum(s.degraded for s in samples if s.ok)
    counts = f"req {len(samples):>5}  ok {len(ok):>5}  failed {failed:>4}  timeouts {timed_out:>4}"
    latency = f"{percentiles(ok, (50, 99))}  max {max(ok, default=math.nan):.2f} ms"
    return f"{counts}  degraded {degraded:>4}  {latency}"


async def print_rows(tally: Tally, server_pid: int) -> None:
    """Print each row once every request due in it has ended (or could no longer be waiting)."""
    plan = tally.plan
    for row in sorted(tally.expected):
        start, end = row * plan.interval, min((row + 1) * plan.interval, plan.duration)
        deadline = tally.t0 + end + plan.timeout + 5.0
        while not tally.complete(row) and time.perf_counter() < deadline:
            await asyncio.sleep(0.25)
        down = any(k < end and k + plan.outage > start for k in plan.kills)
        note = "  Redis killed" if down else ""
        print(f"{start:>5.0f}-{end:<5.0f}s {summary(tally.rows[row])}  {rss(server_pid)}{note}")


def rss(pid: int) -> str:
    """Return a process's resident memory now, as text."""
    try:
        return f"rss {memory_kib(pid)['VmRSS'] / 1024:.0f} MiB"
    except (OSError, KeyError):  # the process is gone
        return "rss -"
