"""The floor under the scoring call: server CPU per order before any feature, model or decision.

Usage, from the repository root with the project's virtualenv:

    python benchmarks/floor.py [--rates 200,300] [--duration 15] [--rungs http,keyed]

For each rung of `floor_server.py` (the body read; validated as an `Order`
through FastAPI; plus one hop to the thread pool; plus the API key's lookup in
SQLite in a thread of its own) it starts that server, warms it up, sends the
warm-up order (every optional part set, a new order id each time) open loop
at each rate with the benchmark's own client, and prints the server's CPU per
order (user + system of its process, from `/proc`) and the latency
percentiles. No feature, model, SHAP or decision work is in it: what it prints
is what the service pays before it does any of its own.
"""

from __future__ import annotations

import argparse
import sys
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

import orjson
from floor_server import RUNGS
from http_client import Client
from load import Run, open_loop, run_loop, timed
from machine import machine_rows, percentiles

from service.cli.server import free_port, started
from service.scoring.warm import WARM_UP_ORDER

WARMUP_ORDERS = 500


def parse_args() -> argparse.Namespace:
    """Return the command-line options."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rates", default="200,300", help="orders/s, comma-separated")
    parser.add_argument("--duration", type=float, default=15.0, help="seconds per rate")
    parser.add_argument("--rungs", default=",".join(RUNGS), help="rungs to run, comma-separated")
    return parser.parse_args()


def bodies(count: int, prefix: str) -> list[bytes]:
    """Return `count` orders as request bodies, each with an order id of its own."""
    created = datetime.now(UTC).isoformat()
    return [
        orjson.dumps({**WARM_UP_ORDER, "order_id": f"{prefix}-{i}", "created_at": created})
        for i in range(count)
    ]


@contextmanager
def floor_server(rung: str) -> Iterator[tuple[int, int, str]]:
    """Start the floor server of `rung`; yield its port, pid and API key once it is ready."""
    port = free_port()
    command = [sys.executable, "benchmarks/floor_server.py", "--rung", rung, "--port", str(port)]
    with started(command, port) as server:
        with urllib.request.urlopen(f"{server.url}/readyz", timeout=5) as ready:
            token = str(orjson.loads(ready.read())["token"])
        yield port, server.process.pid, token


async def measure(
    port: int, pid: int, token: str, rates: list[float], duration: float
) -> list[Run]:
    """Warm the server up, then run each rate open loop; return the runs."""
    client = Client("127.0.0.1", port, connections=64, api_key=token)
    try:
        await open_loop(client, bodies(WARMUP_ORDERS, "warm"), 200.0)
        runs = []
        for rate in rates:
            sent = bodies(int(rate * duration), f"r{rate:g}")
            runs.append(await timed(open_loop(client, sent, rate), pid))
        return runs
    finally:
        client.close()


def main() -> int:
    """Run every rung at every rate and print the floor."""
    args = parse_args()
    rates = [float(r) for r in args.rates.split(",")]
    for name, value in machine_rows():
        print(f"  {name:<16} {value}")
    print(f"\nThe floor (open loop, {args.duration:g} s per rate; ms)")
    print("  rung       rate/s  ok/sent    p50/p99                 CPU ms/order")
    for rung in args.rungs.split(","):
        with floor_server(rung) as (port, pid, token):
            runs = run_loop(measure(port, pid, token, rates, args.duration))
        for rate, run in zip(rates, runs, strict=True):
            ok = [s.latency_ms for s in run.samples if s.ok]
            cpu = run.server_cpu_s / len(run.samples) * 1000
            shown = percentiles(ok, (50, 99))
            print(f"  {rung:<10} {rate:>6g}  {len(ok)}/{len(run.samples)}  {shown:<22}  {cpu:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
