"""Latency benchmark: one OrderShield server (one uvicorn worker) under a fixed arrival rate.

Usage, from the repository root with the project's virtualenv:

    python benchmarks/latency.py --online-store sqlite --rate 100 --duration 60
    python benchmarks/latency.py --online-store redis --redis-url redis://127.0.0.1:6379/3
    python benchmarks/latency.py --online-store sqlite --max-throughput --clients 8
    python benchmarks/latency.py --database-url postgresql://postgres@127.0.0.1/bench

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
import gc
import itertools
import logging
import math
import os
import sys
import warnings
from pathlib import Path

import numpy as np
from http_client import Client
from live_stream import LAP_GAP_MS, LiveStream, is_prepared, load_stream, prepare, say, write_marker
from load import (
    WARMUP_CLIENTS,
    Run,
    closed_loop,
    encoded,
    open_loop,
    run_loop,
    timed,
)
from machine import cpu_model, memory_kib, percentiles
from serving import scoring_key, stop_message
from sqlalchemy.engine import make_url

from service.cli.server import running_server
from service.settings import ServiceSettings


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
    parser.add_argument(
        "--database-url", help="decisions database (e.g. PostgreSQL); default: SQLite in the dir"
    )
    parser.add_argument("--connections", type=int, default=64, help="open-loop connection pool")
    parser.add_argument("--prepare-only", action="store_true", help="prepare, do not measure")
    parser.add_argument("--max-throughput", action="store_true", help="closed loop instead")
    parser.add_argument("--clients", type=int, default=8, help="closed-loop concurrent clients")
    return parser.parse_args()


def make_settings(args: argparse.Namespace) -> ServiceSettings:
    """Return the settings of the benchmark's data dir and online store."""
    data_dir = args.data_dir or Path(".ordershield") / f"bench-{args.online_store}"
    return ServiceSettings(
        data_dir=data_dir.resolve(),
        online_store=args.online_store,
        redis_url=args.redis_url,
        database_url=args.database_url,
    )


async def drive(
    url: str, api_key: str, stream: LiveStream, args: argparse.Namespace, server_pid: int
) -> tuple[Run, Run, int]:
    """Warm up, then measure; return the warm-up run, the measured run and orders used."""
    pool = args.clients if args.max_throughput else args.connections
    host, port = url.removeprefix("http://").rsplit(":", 1)
    client = Client(host, int(port), pool, api_key)
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


def report(
    settings: ServiceSettings, args: argparse.Namespace, warm: Run, run: Run, memory: dict[str, int]
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
        ("decisions db", make_url(settings.db_url).render_as_string(hide_password=True)),
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
    with running_server(settings) as server:
        say(f"server pid {server.process.pid} ready at {server.url}")
        api_key = scoring_key(settings)
        warm, run, used = run_loop(drive(server.url, api_key, stream, args, server.process.pid))
        memory = memory_kib(server.process.pid)
    say(stop_message(server.process.returncode))
    write_marker(settings, stream.last_ms(used) + LAP_GAP_MS, stream.batch)
    report(settings, args, warm, run, memory)
    failed = sum(not s.ok for s in warm.samples + run.samples)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
