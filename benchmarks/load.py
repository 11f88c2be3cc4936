"""The load generator's parts: one scored request, the open and closed loops, their CPU time.

Open loop: request i is due at t0 + i / rate whatever became of the earlier
ones, and its latency runs from that due time to the end of the response, so a
stalled server is charged for the queue it builds (no coordinated omission).
Closed loop: each client sends its next order as soon as the previous answer
arrives.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Awaitable, Callable, Coroutine, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

from http_client import Poster, ProtocolError
from live_stream import LiveStream
from machine import cpu_seconds

T = TypeVar("T")
SCORE_PATH = "/v1/orders/score"
REQUEST_TIMEOUT_S = 30.0
WARMUP_CLIENTS = 4

Stages = tuple[tuple[str, float], ...]
"""`Server-Timing` entries of one answer: (name, milliseconds), in the server's order."""


@dataclass(frozen=True)
class Sample:
    """One request: its latency, whether it succeeded, and what the answer said."""

    latency_ms: float
    ok: bool
    late_ms: float = 0.0
    server_ms: float | None = None
    error: str | None = None
    due: float = 0.0
    timed_out: bool = False
    degraded: bool = False
    degraded_parts: tuple[str, ...] = ()
    stages: Stages = ()
    order_id: str | None = None


@dataclass(frozen=True)
class Run:
    """The samples of one phase, its wall-clock length and the CPU time both sides used."""

    samples: list[Sample]
    seconds: float
    client_cpu_s: float = 0.0
    server_cpu_s: float = 0.0


def server_timing(header: str | None) -> Stages:
    """Return the `name;dur=ms` entries of a `Server-Timing` header, skipping those without dur."""
    if not header:
        return ()
    stages = []
    for entry in header.split(","):
        name, *params = (part.strip() for part in entry.split(";"))
        for param in params:
            key, _, value = param.partition("=")
            if key.strip().lower() == "dur" and name:
                with contextlib.suppress(ValueError):  # a malformed entry is skipped
                    stages.append((name, float(value.strip().strip('"'))))
                break
    return tuple(stages)


async def send(
    client: Poster,
    body: bytes,
    due: float,
    late: float = 0.0,
    timeout: float = REQUEST_TIMEOUT_S,
) -> Sample:
    """Post one order; measure from its due time to the end of the response."""
    try:
        answer = await asyncio.wait_for(client.post(SCORE_PATH, body), timeout)
    except (OSError, TimeoutError, ProtocolError, asyncio.IncompleteReadError) as error:
        latency = (time.perf_counter() - due) * 1000
        timed_out = isinstance(error, TimeoutError)
        return Sample(latency, False, late, error=repr(error), due=due, timed_out=timed_out)
    latency = (time.perf_counter() - due) * 1000
    if answer.status != 200:
        detail = f"HTTP {answer.status}: {answer.body[:200]!r}"
        return Sample(latency, False, late, error=detail, due=due)
    decision = json.loads(answer.body)
    return Sample(
        latency,
        True,
        late,
        float(decision["latency_ms"]),
        due=due,
        degraded=bool(decision.get("degraded")),
        degraded_parts=tuple(decision.get("degraded_parts") or ()),
        stages=server_timing(answer.server_timing),
        order_id=decision.get("order_id"),
    )


async def open_loop(
    client: Poster,
    bodies: list[bytes],
    rate: float,
    t0: float | None = None,
    timeout: float = REQUEST_TIMEOUT_S,
    done: Callable[[Sample], object] | None = None,
) -> list[Sample]:
    """Send each body at t0 + i / rate regardless of completions; return all samples.

    `t0` is a `time.perf_counter()` reading (default: 50 ms from now); `done`, when given,
    sees each sample as soon as its request ends.
    """
    t0 = time.perf_counter() + 0.05 if t0 is None else t0
    tasks = []
    for i, body in enumerate(bodies):
        due = t0 + i / rate
        await asyncio.sleep(max(0.0, due - time.perf_counter()))
        late = (time.perf_counter() - due) * 1000
        task = asyncio.create_task(send(client, body, due, late, timeout))
        if done is not None:
            task.add_done_callback(lambda t: None if t.cancelled() else done(t.result()))
        tasks.append(task)
    return list(await asyncio.gather(*tasks))


async def closed_loop(
    client: Poster, bodies: Iterator[bytes], clients: int, seconds: float
) -> list[Sample]:
    """Run `clients` back-to-back senders over `bodies` until they or `seconds` run out."""
    deadline = time.perf_counter() + seconds
    samples: list[Sample] = []

    async def worker() -> None:
        # The senders share one iterator; each takes the next order as it becomes free.
        for body in bodies:
            samples.append(await send(client, body, time.perf_counter()))
            if time.perf_counter() >= deadline:
                return

    await asyncio.gather(*(worker() for _ in range(clients)))
    return samples


def encoded(stream: LiveStream, indices: Iterable[int]) -> Iterator[bytes]:
    """Yield the request bodies of these order numbers."""
    for i in indices:
        yield json.dumps(stream.body(i)).encode()


async def timed(phase: Awaitable[list[Sample]], *server_pids: int) -> Run:
    """Await a phase that returns samples; return them with the elapsed and CPU times.

    The server's CPU time is the sum over `server_pids` (one per server process).
    """

    def server_cpu() -> float:
        return sum(cpu_seconds(pid) for pid in server_pids)

    client_cpu, server_before = cpu_seconds(), server_cpu()
    started = time.perf_counter()
    samples = await phase
    elapsed = time.perf_counter() - started
    client_used = cpu_seconds() - client_cpu
    return Run(samples, elapsed, client_used, server_cpu() - server_before)


def run_loop(main: Coroutine[Any, Any, T]) -> T:
    """Run the load generator on uvloop when it is installed (it is, with uvicorn's extras)."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(main)
    return uvloop.run(main)
