"""Latency benchmark: one OrderShield server (one uvicorn worker) under a fixed arrival rate.

Usage, from the repository root with the project's virtualenv:

    python benchmarks/latency.py --online-store sqlite --rate 100 --duration 60
    python benchmarks/latency.py --online-store redis --redis-url redis://127.0.0.1:6379/3
    python benchmarks/latency.py --online-store sqlite --max-throughput --clients 8

The first run on a data dir (default `.ordershield/bench-<store>`) prepares it:
it simulates `--orders` orders, holds the last `--warmup` + rate x duration of
them out as the live stream, builds the offline features from the rest, applies
and materializes the Feast repo, trains and promotes a champion. For Redis the
DB of `--redis-url` is flushed first, so give the benchmark a DB of its own.
Later runs reuse it, unless its champion no longer fits the running feature
spec; `--prepare-only` stops after preparing.

After `--warmup` orders from four back-to-back clients (not measured), the
load is open loop: request i is due at t0 + i / rate whatever became of the
earlier ones, and its latency runs from that due time to the end of the
response, so a stalled server is charged for the queue it builds (no
coordinated omission). The latency is the whole call: validation, the online
feature read, the score, the exact SHAP explanation, the durable decision write
and the real-time feature update. `--max-throughput` runs a closed loop instead:
`--clients` clients each send their next order as soon as the previous answer
arrives.

Every request is a new order: the live stream is replayed under fresh order ids
and moved forward in time past everything sent to this data dir before, so
each order's features see the history and the orders scored ahead of it; a run
that needs more orders than the stream holds replays it again, later in time.
Payment declines and labels are not sent.

It prints the machine, the load, requests sent / ok / failed, the achieved
throughput, percentiles of the whole call, the server's own `latency_ms` (which
stops before the durable write and the feature update), the CPU both processes
used, how late the load generator sent (a check on the generator itself) and
the server's peak and current RSS. It exits with status 1 if any request failed.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import itertools
import json
import logging
import math
import os
import platform
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import warnings
from collections.abc import Awaitable, Coroutine, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import pandas as pd
from http_client import Client, ProtocolError

from features.settings import Settings

T = TypeVar("T")
LIVE_FILE = "bench-live.parquet"
MARKER_FILE = "bench.json"
SCORE_PATH = "/v1/orders/score"
REQUEST_TIMEOUT_S = 30.0
LAP_GAP_MS = 60_000
WARMUP_CLIENTS = 4


@dataclass(frozen=True)
class Sample:
    """One request: its latency, whether it succeeded, and the server's own timing."""

    latency_ms: float
    ok: bool
    late_ms: float = 0.0
    server_ms: float | None = None
    error: str | None = None


@dataclass(frozen=True)
class Run:
    """The samples of one phase, its wall-clock length and the CPU time both sides used."""

    samples: list[Sample]
    seconds: float
    client_cpu_s: float = 0.0
    server_cpu_s: float = 0.0


@dataclass(frozen=True)
class LiveStream:
    """Held-out orders replayed as new orders, shifted in time lap after lap."""

    payloads: list[dict[str, Any]]
    created_ms: np.ndarray
    customer_ms: np.ndarray
    start_ms: int
    lap_ms: int
    base_shift_ms: int
    batch: int

    def body(self, i: int) -> dict[str, Any]:
        """Return the i-th request of this run as a new order."""
        lap, k = divmod(i, len(self.payloads))
        shift = self.base_shift_ms + lap * self.lap_ms
        base = self.payloads[k]
        customer = dict(base["customer"])
        joined = int(self.customer_ms[k])
        if joined >= self.start_ms:  # accounts opened during the live stream move with it
            customer["account_created_at"] = _iso(joined + shift)
        created = int(self.created_ms[k]) + shift
        return {
            **base,
            "order_id": f"{base['order_id']}-{self.batch}-{shift}",
            "created_at": _iso(created),
            "customer": customer,
        }

    def last_ms(self, count: int) -> int:
        """Return the latest order time among the first `count` requests (sent in time order)."""
        lap, k = divmod(count - 1, len(self.payloads))
        return int(self.created_ms[k]) + self.base_shift_ms + lap * self.lap_ms


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat()


def parse_args() -> argparse.Namespace:
    """Return the command-line options."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--online-store", choices=("sqlite", "redis"), default="sqlite")
    parser.add_argument("--rate", type=float, default=100.0, help="requests per second")
    parser.add_argument("--duration", type=float, default=60.0, help="seconds measured")
    parser.add_argument("--warmup", type=int, default=300, help="requests sent before measuring")
    parser.add_argument("--orders", type=int, default=200_000, help="orders to simulate")
    parser.add_argument("--seed", type=int, default=7, help="simulation seed")
    parser.add_argument("--data-dir", type=Path, help="default: .ordershield/bench-<store>")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/3")
    parser.add_argument("--connections", type=int, default=64, help="open-loop connection pool")
    parser.add_argument("--prepare-only", action="store_true", help="prepare, do not measure")
    parser.add_argument("--max-throughput", action="store_true", help="closed loop instead")
    parser.add_argument("--clients", type=int, default=8, help="closed-loop concurrent clients")
    return parser.parse_args()


def make_settings(args: argparse.Namespace) -> Settings:
    """Return the settings of the benchmark's data dir and online store."""
    data_dir = args.data_dir or Path(".ordershield") / f"bench-{args.online_store}"
    return Settings(
        data_dir=data_dir.resolve(), online_store=args.online_store, redis_url=args.redis_url
    )


def _marker(settings: Settings) -> dict[str, Any]:
    path = settings.data_dir / MARKER_FILE
    return dict(json.loads(path.read_text())) if path.exists() else {}


def _write_marker(settings: Settings, clock_ms: int, batch: int) -> None:
    # `batch` (when the data dir was prepared) keeps order ids unique across preparations.
    marker = {"online_store": settings.online_store, "redis_url": settings.redis_url}
    text = json.dumps({**marker, "clock_ms": clock_ms, "batch": batch})
    (settings.data_dir / MARKER_FILE).write_text(text)


def is_prepared(settings: Settings) -> bool:
    """Return whether the data dir holds a live stream and a servable champion for this store."""
    from models.registry import RegistryError, load_scorer
    from models.scorer import SpecMismatchError

    marker = _marker(settings)
    if marker.get("online_store") != settings.online_store:
        return False
    if settings.online_store == "redis":
        import redis

        client = redis.Redis.from_url(settings.redis_url)
        if marker.get("redis_url") != settings.redis_url or not client.dbsize():
            return False
    try:
        load_scorer(settings)  # refuses a champion trained on another feature spec
    except (RegistryError, SpecMismatchError) as error:
        say(f"preparing again: {error}")
        return False
    return True


def prepare(settings: Settings, n_orders: int, live: int, seed: int) -> None:
    """Simulate, hold out the live stream, build features, train and promote a champion."""
    from features.build import build_offline_sources
    from features.schema import conform
    from features.store import apply, materialize
    from models.registry import promote
    from training.simulation import simulate_orders
    from training.train import train

    if settings.data_dir.exists() and any(settings.data_dir.iterdir()) and not _marker(settings):
        sys.exit(f"{settings.data_dir} holds other data: remove it or pass another --data-dir")
    if live >= n_orders // 2:
        sys.exit(f"--orders {n_orders:,} is too few for {live:,} live orders")
    if settings.online_store == "redis":
        import redis

        redis.Redis.from_url(settings.redis_url).flushdb()
    say(f"preparing {settings.data_dir}: simulating {n_orders:,} orders")
    orders = simulate_orders(n_orders, seed=seed).sort_values("created_at", kind="stable")
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    orders.iloc[:-live].to_parquet(settings.orders_path, index=False)
    orders.iloc[-live:].to_parquet(settings.data_dir / LIVE_FILE, index=False)
    say(f"building features from {n_orders - live:,} orders, {live:,} held out as live")
    build_offline_sources(conform(pd.read_parquet(settings.orders_path)), settings)
    apply(settings)
    say(f"materialized {materialize(settings):,} entity states; training")
    result = train(settings)
    promote(settings, result.version)
    say(f"promoted version {result.version}")
    _write_marker(settings, int(_epoch_ms(orders["created_at"])[-live]), int(time.time()))


def load_stream(settings: Settings) -> LiveStream:
    """Return the live stream, shifted to start after everything sent before."""
    from training.payloads import order_payload

    frame = pd.read_parquet(settings.data_dir / LIVE_FILE)
    marker = _marker(settings)
    created = _epoch_ms(frame["created_at"])
    joined = _epoch_ms(frame["customer_created_at"])
    start = int(created[0])
    return LiveStream(
        payloads=[order_payload(row) for _, row in frame.iterrows()],
        created_ms=created,
        customer_ms=joined,
        start_ms=start,
        lap_ms=int(created[-1]) - start + LAP_GAP_MS,
        base_shift_ms=int(marker["clock_ms"]) - start,
        batch=int(marker.get("batch", 0)),
    )


def _epoch_ms(times: pd.Series) -> np.ndarray:
    """Return timestamps as epoch milliseconds (missing ones as the smallest int64)."""
    return np.asarray(pd.DatetimeIndex(times).as_unit("ms").asi8, dtype=np.int64)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def server_env(settings: Settings) -> dict[str, str]:
    """Return the environment that gives the server exactly these settings."""
    env = dict(os.environ)
    for name in type(settings).model_fields:
        value = getattr(settings, name)
        if value is not None:
            env[f"ORDERSHIELD_{name.upper()}"] = str(value)
    return env


@contextmanager
def running_server(settings: Settings) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """Start one uvicorn worker for these settings; yield its URL and process once ready."""
    port = _free_port()
    command = [sys.executable, "-m", "uvicorn", "service.app:create_app", "--factory"]
    options = ["--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"]
    process = subprocess.Popen([*command, *options], env=server_env(settings))
    url = f"http://127.0.0.1:{port}"
    try:
        wait_ready(url, process)
        yield url, process
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def stop_message(status: int | None) -> str:
    """Describe how the server ended (uvicorn re-raises SIGTERM after a graceful shutdown)."""
    if status in (0, -signal.SIGTERM):
        return f"server shut down cleanly on SIGTERM (exit status {status})"
    return f"server did not shut down cleanly (exit status {status})"


def wait_ready(url: str, process: subprocess.Popen[bytes], timeout: float = 180.0) -> None:
    """Wait until /readyz answers 200, or fail if the server exits or takes too long."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            sys.exit(f"the server exited during startup with status {process.returncode}")
        try:
            with urllib.request.urlopen(f"{url}/readyz", timeout=2) as answer:
                if answer.status == 200:
                    return
        except OSError:  # refused while starting, or 503 (HTTPError) until ready
            pass
        time.sleep(0.2)
    sys.exit(f"the server was not ready within {timeout:.0f} s")


async def send(client: Client, body: bytes, due: float, late: float = 0.0) -> Sample:
    """Post one order; measure from its due time to the end of the response."""
    try:
        answer = await asyncio.wait_for(client.post(SCORE_PATH, body), REQUEST_TIMEOUT_S)
    except (OSError, TimeoutError, ProtocolError, asyncio.IncompleteReadError) as error:
        return Sample((time.perf_counter() - due) * 1000, False, late, error=repr(error))
    latency = (time.perf_counter() - due) * 1000
    if answer.status != 200:
        detail = f"HTTP {answer.status}: {answer.body[:200]!r}"
        return Sample(latency, False, late, error=detail)
    return Sample(latency, True, late, float(json.loads(answer.body)["latency_ms"]))


async def open_loop(client: Client, bodies: list[bytes], rate: float) -> list[Sample]:
    """Send each body at t0 + i / rate regardless of completions; return all samples."""
    t0 = time.perf_counter() + 0.05
    tasks = []
    for i, body in enumerate(bodies):
        due = t0 + i / rate
        await asyncio.sleep(max(0.0, due - time.perf_counter()))
        late = (time.perf_counter() - due) * 1000
        tasks.append(asyncio.create_task(send(client, body, due, late)))
    return list(await asyncio.gather(*tasks))


async def closed_loop(
    client: Client, bodies: Iterator[bytes], clients: int, seconds: float
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


async def drive(
    url: str, stream: LiveStream, args: argparse.Namespace, server_pid: int
) -> tuple[Run, Run, int]:
    """Warm up, then measure; return the warm-up run, the measured run and orders used."""
    pool = args.clients if args.max_throughput else args.connections
    host, port = url.removeprefix("http://").rsplit(":", 1)
    client = Client(host, int(port), pool)
    try:
        # A gentle closed-loop warm-up: it leaves no backlog behind for the measurement.
        warm_up = closed_loop(client, encoded(stream, range(args.warmup)), WARMUP_CLIENTS, math.inf)
        warm = await timed(warm_up, server_pid)
        # Keep the collector's full passes over everything built so far out of the timings.
        gc.collect()
        gc.freeze()
        if args.max_throughput:
            counter = itertools.count(args.warmup)
            closed = closed_loop(client, encoded(stream, counter), args.clients, args.duration)
            return warm, await timed(closed, server_pid), next(counter)
        count = math.ceil(args.rate * args.duration)
        bodies = list(encoded(stream, range(args.warmup, args.warmup + count)))
        run = await timed(open_loop(client, bodies, args.rate), server_pid)
        return warm, run, args.warmup + count
    finally:
        client.close()


async def timed(phase: Awaitable[list[Sample]], server_pid: int) -> Run:
    """Await a phase that returns samples; return them with the elapsed and CPU times."""
    client_cpu, server_cpu = cpu_seconds(os.getpid()), cpu_seconds(server_pid)
    started = time.perf_counter()
    samples = await phase
    elapsed = time.perf_counter() - started
    client_used = cpu_seconds(os.getpid()) - client_cpu
    return Run(samples, elapsed, client_used, cpu_seconds(server_pid) - server_cpu)


def cpu_seconds(pid: int) -> float:
    """Return the user + system CPU time a process has used so far (all its threads)."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cpu_model() -> str:
    """Return the CPU model name from /proc/cpuinfo."""
    with open("/proc/cpuinfo") as info:
        for line in info:
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def memory_kib(pid: int) -> dict[str, int]:
    """Return VmHWM (peak RSS) and VmRSS of a process in KiB."""
    with open(f"/proc/{pid}/status") as status:
        fields = dict(line.split(":", 1) for line in status if line.startswith(("VmHWM", "VmRSS")))
    return {name: int(value.split()[0]) for name, value in fields.items()}


def percentiles(values: list[float], points: tuple[float, ...]) -> str:
    """Return the given percentiles of values as `pN x.xx` pairs."""
    if not values:
        return "n/a"
    got = np.percentile(np.asarray(values), points)
    return "  ".join(f"p{p:g} {v:.2f}" for p, v in zip(points, got, strict=True))


def report(
    settings: Settings, args: argparse.Namespace, warm: Run, run: Run, memory: dict[str, int]
) -> None:
    """Print the machine, the load and the measured figures."""
    ok = [s for s in run.samples if s.ok]
    errors = [s for s in run.samples if not s.ok]
    warm_errors = [s for s in warm.samples if not s.ok]
    mode = (
        f"closed loop, {args.clients} clients for {args.duration:g} s"
        if args.max_throughput
        else f"open loop, {args.rate:g} req/s for {args.duration:g} s"
    )
    latencies = [s.latency_ms for s in ok]
    rows = [
        ("machine", f"{os.cpu_count()} cores, {cpu_model()}"),
        ("online store", f"{settings.online_store} ({settings.data_dir})"),
        ("load", mode),
        ("warm-up", f"sent {len(warm.samples)}, errors {len(warm_errors)} (not measured)"),
        ("requests", f"sent {len(run.samples)}, ok {len(ok)}, errors {len(errors)}"),
        ("throughput", f"{len(ok) / run.seconds:.1f} req/s over {run.seconds:.1f} s"),
        ("whole call ms", percentiles(latencies, (50, 90, 99, 99.9))),
        ("", f"max {max(latencies, default=math.nan):.2f}  mean {np.mean(latencies or [0]):.2f}"),
        ("server latency_ms", percentiles([s.server_ms or 0.0 for s in ok], (50, 99))),
        ("CPU used", cpu_use(run)),
        ("client send lag ms", percentiles([s.late_ms for s in run.samples], (50, 99, 100))),
        (
            "server RSS",
            f"peak {memory['VmHWM'] / 1024:.0f} MiB, now {memory['VmRSS'] / 1024:.0f} MiB",
        ),
    ]
    for label, text in rows:
        print(f"{label:<19} {text}")
    for error in sorted({e.error or "" for e in warm_errors + errors})[:5]:
        print(f"{'error':<19} {error}")


def cpu_use(run: Run) -> str:
    """Describe the CPU time server and client used, as cores busy on average."""
    server, client = run.server_cpu_s / run.seconds, run.client_cpu_s / run.seconds
    return f"server {server:.2f} cores, load generator {client:.2f} cores"


def run_loop(main: Coroutine[Any, Any, T]) -> T:
    """Run the load generator on uvloop when it is installed (it is, with uvicorn's extras)."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(main)
    return uvloop.run(main)


def say(message: str) -> None:
    """Print a progress line."""
    print(f"[bench] {message}", flush=True)


def main() -> int:
    """Prepare if needed, serve, load, report; return 1 if any request failed."""
    warnings.filterwarnings("ignore")
    for name in ("feast", "mlflow"):
        logging.getLogger(name).setLevel(logging.ERROR)
    args = parse_args()
    settings = make_settings(args)
    if not is_prepared(settings):
        live = args.warmup + math.ceil(args.rate * args.duration)
        prepare(settings, args.orders, live, args.seed)
    if args.prepare_only:
        return 0
    stream = load_stream(settings)
    say(f"load average before the run: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")
    with running_server(settings) as (url, process):
        say(f"server pid {process.pid} ready at {url}")
        warm, run, used = run_loop(drive(url, stream, args, process.pid))
        memory = memory_kib(process.pid)
    say(stop_message(process.returncode))
    _write_marker(settings, stream.last_ms(used) + LAP_GAP_MS, stream.batch)
    report(settings, args, warm, run, memory)
    failed = sum(not s.ok for s in warm.samples + run.samples)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
