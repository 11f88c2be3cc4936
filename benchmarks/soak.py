"""Soak: one OrderShield server on Redis under a steady load while Redis is killed twice.

Usage, from the repository root with the project's virtualenv:

    python benchmarks/soak.py            # 40 orders/s for 600 s, Redis down at 150 s and 360 s
    python benchmarks/soak.py --quick    # 60 s, outages of 5 s, a row every 10 s

The data dir (default `.ordershield/bench-soak`) is prepared, or reused, the way
`benchmarks/latency.py` prepares one for the embedded store. Each run then
starts a redis-server of its own on a free loopback port, in a temp dir, with
an append-only file fsynced on every write (so a killed Redis comes back with
everything it acknowledged), loads the data dir's entity states into it, and
starts one server process whose decisions go to a new SQLite database in that
temp dir: a run is checked against exactly the orders it sent, and the data
dir's own stores are left alone, so every run replays the same orders.

The load is `benchmarks/latency.py`'s open loop: request i is due at
t0 + i / rate, every one a new order, each with a client `--timeout` (2 s) so a
stalled server shows up as timeouts, not a hang. At 1/4 and 3/5 of the run
(`--kill-at`) Redis is killed with SIGKILL and, `--outage` seconds later,
started again from its append-only file on the same port.

Every minute (`--interval`) it prints the requests due in it: sent, ok, failed,
timed out, degraded answers, p50/p99/max of the ok ones, and the server's RSS.
At the end: the totals, inside and outside the outages, the parts the degraded
answers named (`degraded_parts`), and the server's RSS at start, peak and end.
Then it waits for the feature-update outbox to drain and checks the online
store: for every customer and device the run scored, the online count of its
orders (the spec's all-time or longest-window order count of that entity, read
after the last order) must equal its orders in the prepared history plus its
decisions in this run's database. Short is a lost update, long a double count.

It exits with status 1 if an acknowledged decision is not in the database, an
update was lost or counted twice, the outbox did not drain, or a request failed
outside the outage windows (from one client timeout before a kill to one after
Redis answers again). The temp dir (Redis's files, the decisions, the server's
log) is removed after a clean run and kept otherwise.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import math
import os
import shutil
import signal
import sys
import tempfile
import time
import warnings
from collections import Counter
from collections.abc import Iterable
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

from http_client import Client
from live_stream import is_prepared, load_stream, prepare, say
from load import WARMUP_CLIENTS, Sample, closed_loop, encoded, open_loop, run_loop
from machine import cpu_model, memory_kib
from pydantic import SecretStr
from serving import scoring_key, stderr_to, stop_message
from soak_counts import check_counts
from soak_rows import Outage, Plan, Tally, print_rows, summary
from sqlalchemy import Engine, func, select

from features.store import materialize
from service.cli.local_redis import RedisServer
from service.cli.server import Server, running_server
from service.persistence import due_feature_updates, make_engine
from service.persistence.tables import DecisionRow, FeatureUpdateRow
from service.settings import ServiceSettings

CONNECTIONS = 64
# Live orders held out when the data dir is first prepared: enough for the default run.
LIVE_ORDERS = 25_000
EXAMPLES = 5


def parse_args() -> tuple[argparse.Namespace, Plan]:
    """Return the command-line options and the plan they make."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=40.0, help="orders per second")
    parser.add_argument("--duration", type=float, help="seconds of load (600; 60 with --quick)")
    parser.add_argument(
        "--outage", type=float, help="seconds Redis stays down (15; 5 with --quick)"
    )
    parser.add_argument(
        "--kill-at", type=float, nargs="+", default=[0.25, 0.6], help="kills, as parts of the run"
    )
    parser.add_argument("--timeout", type=float, default=2.0, help="client timeout, seconds")
    parser.add_argument("--interval", type=float, help="seconds per printed row (60; 10 quick)")
    parser.add_argument("--quick", action="store_true", help="a short run to try it")
    parser.add_argument("--warmup", type=int, default=200, help="orders sent before the run")
    parser.add_argument("--drain-timeout", type=float, default=180.0, help="longest outbox wait")
    parser.add_argument("--orders", type=int, default=200_000, help="orders to simulate")
    parser.add_argument("--seed", type=int, default=7, help="simulation seed")
    parser.add_argument("--data-dir", type=Path, default=Path(".ordershield") / "bench-soak")
    args = parser.parse_args()
    duration = args.duration or (60.0 if args.quick else 600.0)
    plan = Plan(
        rate=args.rate,
        duration=duration,
        kills=tuple(sorted(part * duration for part in args.kill_at)),
        outage=args.outage or (5.0 if args.quick else 15.0),
        timeout=args.timeout,
        interval=args.interval or (10.0 if args.quick else 60.0),
    )
    ends = [kill + plan.outage for kill in plan.kills]
    if any(not 0 < k < e < duration for k, e in zip(plan.kills, ends, strict=True)) or any(
        later <= end for end, later in zip(ends, plan.kills[1:], strict=False)
    ):
        parser.error("every outage must end before the next kill and before the run ends")
    return args, plan


async def kill_redis(redis_server: RedisServer, t0: float, plan: Plan) -> list[Outage]:
    """Kill Redis at each planned time and start it again `plan.outage` seconds later."""
    outages: list[Outage] = []
    for at in plan.kills:
        await asyncio.sleep(max(0.0, t0 + at - time.perf_counter()))
        killed = time.perf_counter() - t0
        await asyncio.to_thread(redis_server.kill)
        say(f"Redis killed (SIGKILL) at {killed:.1f} s")
        await asyncio.sleep(plan.outage)
        await asyncio.to_thread(redis_server.start)
        back = time.perf_counter() - t0
        say(f"Redis answers again at {back:.1f} s, restarted from its append-only file")
        outages.append(Outage(killed, back))
    return outages


@dataclass(frozen=True)
class Load:
    """What the load saw: the warm-up, the run's samples from t0 on, the outages."""

    warm: list[Sample]
    t0: float
    samples: list[Sample]
    outages: list[Outage]


async def drive(
    url: str, api_key: str, bodies: Bodies, redis_server: RedisServer, plan: Plan, pid: int
) -> Load:
    """Warm up, then run the open loop with the outages and the printed rows beside it."""
    host, port = url.removeprefix("http://").rsplit(":", 1)
    client = Client(host, int(port), CONNECTIONS, api_key)
    try:
        warm = await closed_loop(client, iter(bodies.warm), WARMUP_CLIENTS, math.inf)
        t0 = time.perf_counter() + 0.1
        tally = Tally(t0, plan)
        killer = asyncio.create_task(kill_redis(redis_server, t0, plan))
        printer = asyncio.create_task(print_rows(tally, pid))
        try:
            samples = await open_loop(client, bodies.run, plan.rate, t0, plan.timeout, tally.add)
            outages = await killer
            await printer
        finally:
            killer.cancel()
            printer.cancel()
        return Load(warm, t0, samples, outages)
    finally:
        client.close()


def in_outage(sample: Sample, t0: float, outages: Iterable[Outage], grace: float) -> bool:
    """Return whether a request was due within `grace` of an outage (kill to Redis back)."""
    due = sample.due - t0
    return any(o.killed - grace <= due <= o.back + grace for o in outages)


def wait_drained(engine: Engine, server: Server, seconds: float) -> tuple[int, float]:
    """Wait until no feature update is due; return how many still are, and the seconds waited."""
    started = time.monotonic()
    while due_feature_updates(engine, limit=1) and time.monotonic() - started < seconds:
        if server.process.poll() is not None:  # nobody left to drain it
            break
        time.sleep(0.5)
    return len(due_feature_updates(engine, limit=1_000_000)), time.monotonic() - started


def exit_on_sigterm(signum: int, _: FrameType | None) -> None:
    """Turn SIGTERM into SystemExit, so the processes of the run are stopped on the way out."""
    raise SystemExit(128 + signum)


def report(plan: Plan, load: Load, memory: dict[str, int]) -> int:
    """Print the run's figures; return the requests that failed outside the outages."""
    grace = plan.timeout
    inside = [s for s in load.samples if in_outage(s, load.t0, load.outages, grace)]
    outside = [s for s in load.samples if not in_outage(s, load.t0, load.outages, grace)]
    parts = Counter(p for s in load.samples if s.ok for p in s.degraded_parts)
    times = "; ".join(f"killed at {o.killed:.1f} s, back at {o.back:.1f} s" for o in load.outages)
    mib = {name: value / 1024 for name, value in memory.items()}
    warm_failed = sum(not s.ok for s in load.warm)
    rows = [
        ("warm-up", f"{len(load.warm)} orders, {warm_failed} failed (not in the figures)"),
        ("all requests", summary(load.samples)),
        ("outside outages", summary(outside)),
        ("during outages", summary(inside)),
        ("degraded parts", ", ".join(f"{p} {n}" for p, n in parts.most_common()) or "none named"),
        ("outages", times),
        (
            "server RSS",
            f"start {mib['start']:.0f}, peak {mib['VmHWM']:.0f}, end {mib['VmRSS']:.0f} MiB",
        ),
    ]
    for label, text in rows:
        print(f"{label:<16} {text}")
    for error in sorted({s.error or "" for s in load.warm + load.samples if not s.ok})[:EXAMPLES]:
        print(f"{'error':<16} {error}")
    return warm_failed + sum(not s.ok for s in outside)


@dataclass(frozen=True)
class Bodies:
    """The request bodies of the warm-up and of the run, and the run's order ids."""

    warm: list[bytes]
    run: list[bytes]
    order_ids: list[str]


def request_bodies(settings: ServiceSettings, warmup: int, count: int) -> Bodies:
    """Return the bodies of the warm-up and the run: new orders on the live stream."""
    stream = load_stream(settings)
    run = list(encoded(stream, range(warmup, warmup + count)))
    order_ids = [str(json.loads(body)["order_id"]) for body in run]
    return Bodies(list(encoded(stream, range(warmup))), run, order_ids)


def soak(args: argparse.Namespace, plan: Plan, prepared: ServiceSettings, run_dir: Path) -> bool:
    """Run the soak and its checks in `run_dir`; return whether every check passed."""
    bodies = request_bodies(prepared, args.warmup, plan.count)
    with ExitStack() as stack:
        redis_server = RedisServer(run_dir, durable=True)
        stack.callback(redis_server.stop)
        redis_server.start()
        settings = ServiceSettings(
            data_dir=prepared.data_dir,
            online_store="redis",
            redis_url=SecretStr(redis_server.url),
            database_url=SecretStr(f"sqlite:///{run_dir / 'decisions.db'}"),
        )
        started = time.monotonic()
        loaded = materialize(settings)
        say(f"loaded {loaded:,} entity states into Redis in {time.monotonic() - started:.0f} s")
        say(f"machine: {os.cpu_count()} cores, {cpu_model()}; run dir {run_dir}")
        kills = ", ".join(f"{k:g} s" for k in plan.kills)
        say(
            f"{args.warmup} warm-up orders, then {plan.count:,} at {plan.rate:g}/s for "
            f"{plan.duration:g} s; Redis killed at {kills} for {plan.outage:g} s each"
        )
        engine = make_engine(settings.db_url)
        stack.callback(engine.dispose)
        with ExitStack() as serving:
            with stderr_to(run_dir / "server.log"):
                server = serving.enter_context(running_server(settings))
            pid = server.process.pid
            memory = {"start": memory_kib(pid)["VmRSS"]}
            api_key = scoring_key(settings)
            load = run_loop(drive(server.url, api_key, bodies, redis_server, plan, pid))
            say("load done; waiting for the feature-update outbox to drain")
            pending, waited = wait_drained(engine, server, args.drain_timeout)
            memory |= memory_kib(pid)
        say(stop_message(server.process.returncode))
        failed_outside = report(plan, load, memory)
        with engine.connect() as connection:
            updates = connection.execute(select(func.count()).select_from(FeatureUpdateRow))
            queued = updates.scalar_one()
            stored = set(connection.execute(select(DecisionRow.order_id)).scalars())
        drift = check_counts(settings, engine)
    acknowledged = {i for i, s in zip(bodies.order_ids, load.samples, strict=True) if s.ok}
    missing = acknowledged - stored
    unanswered = len(stored.intersection(bodies.order_ids) - acknowledged)
    checked = ", ".join(f"{n:,} by {name}" for name, n in drift.checked.items())
    rows = [
        (
            "decisions",
            f"{len(acknowledged):,} acknowledged, {len(missing)} of them missing; "
            f"{unanswered} stored without an answer (timed out or failed)",
        ),
        ("outbox", f"{queued:,} feature updates queued, {pending} still due after {waited:.0f} s"),
        ("entities checked", checked or "none"),
        ("lost updates", str(len(drift.lost))),
        ("double counted", str(len(drift.double))),
    ]
    if drift.unreadable:
        rows.append(("unreadable", f"{len(drift.unreadable)} entity states could not be read"))
    for label, text in rows:
        print(f"{label:<16} {text}")
    for line in [*drift.lost, *drift.double, *drift.unreadable][:EXAMPLES]:
        print(f"{'':<16} {line}")
    found = missing or drift.lost or drift.double or drift.unreadable or pending or failed_outside
    return not found


def main() -> int:
    """Prepare if needed, soak with two Redis kills, check the online store; 1 on any loss."""
    warnings.filterwarnings("ignore")
    for name in ("feast", "mlflow"):
        logging.getLogger(name).setLevel(logging.ERROR)
    signal.signal(signal.SIGTERM, exit_on_sigterm)
    args, plan = parse_args()
    prepared = ServiceSettings(data_dir=args.data_dir.resolve(), online_store="sqlite")
    if not is_prepared(prepared):
        live = max(args.warmup + plan.count, LIVE_ORDERS)
        prepare(prepared, args.orders, live, args.seed)
    run_dir = Path(tempfile.mkdtemp(prefix="ordershield-soak-"))
    passed = False
    try:
        passed = soak(args, plan, prepared, run_dir)
    except KeyboardInterrupt:
        say("interrupted")
        return 130
    finally:
        if passed:
            shutil.rmtree(run_dir, ignore_errors=True)
        else:
            say(f"kept the run dir (Redis's files, the decisions, the server's log): {run_dir}")
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
