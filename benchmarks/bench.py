"""The operator's benchmark: latency, capacity, CPU, stages, the straightforward path, state size.

Usage, from the repository root with the project's virtualenv:

    python benchmarks/bench.py [--online-store redis|sqlite] [--quick]

The full run holds each rate for a minute (about 15 minutes, plus preparing the
data dirs the first time); `--quick` runs every part for a few seconds on a
small data dir (a few minutes). Every figure's rate, duration and size is an
option (`--help`).

Parts 1-5 run against the data dir of `--online-store` (default
`.ordershield/bench-<store>`, `-quick` appended for `--quick`), part 7 against
a Redis one (the same dir when the store is Redis). A data dir is prepared the
way `benchmarks/latency.py` prepares one, and reused; one whose champion no
longer fits the feature spec, whose Redis DB holds another dir's states, or
whose replay clock would pass the present is removed and prepared again. It
prints:

1. the whole call's p50/p90/p99/p99.9 at each `--rates` rate, open loop, each
   for `--duration` seconds, against one server process (one uvicorn worker);
2. the rate where p99 crosses `--p99-limit` ms: from `--sweep-start`, up by
   `--sweep-step` (each for `--sweep-duration` s) until p99 passes the limit or
   an order fails or is decided degraded; the last rate under and the first over;
3. the server's CPU per order at `--cpu-rate` (user + system time of the server
   process from /proc/<pid>/stat, over the orders it answered);
4. p50/p99 of each stage the server names in its `Server-Timing` header, at
   each rate (n/a when the server sends none);
5. our read, score and explain against the straightforward path (Feast's
   `get_online_features`, `booster.predict`, `shap.TreeExplainer`), timed in
   this process on the orders the server has just scored one at a time
   (`--serial`), with their stored feature rows (see `bench_inprocess.py`);
6. the largest stored row of each view of each online store after the run;
7. the figures of 1, 3 and 4 for two server processes on one Redis (the DB of
   `--redis-url`) and one PostgreSQL database (`--shared-database-url`, created
   if missing), the client taking them in turn, at each `--two-rates` rate;
8. at the top: the machine, the software, the command line and the plan.

Every request is a new order (see `live_stream.py`); the load and its
measurement are `latency.py`'s (see `load.py`): the whole call runs from the
order's due time to the end of its answer. The load generator shares the
machine with the servers; its CPU time is shown beside theirs. The servers'
stderr goes to `bench-servers-<n>.log` in the data dir. It exits with status 1
if an order outside the sweep failed or part 7 could not run.
"""

from __future__ import annotations

import argparse
import logging
import math
import shlex
import shutil
import sys
import warnings
from pathlib import Path

from bench_run import Parts, run_parts
from bench_steps import Feed, Plan
from live_stream import MARKER_FILE, is_prepared, load_stream, prepare, say

from service.settings import ServiceSettings

SHARED_DATABASE = "postgresql://postgres@127.0.0.1:5432/ordershield_bench"
# (orders simulated, days they span, orders held out as the live stream)
FULL_DATA = (200_000, 120, 25_000)
QUICK_DATA = (20_000, 30, 4_000)


def rates(text: str) -> tuple[float, ...]:
    """Parse a comma-separated list of rates."""
    return tuple(float(part) for part in text.split(",") if part.strip())


def parse_args() -> argparse.Namespace:
    """Return the command-line options; unset durations and sizes follow `--quick`."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add = parser.add_argument
    add("--online-store", choices=("sqlite", "redis"), default="sqlite")
    add("--quick", action="store_true", help="every part briefly, on a small data dir")
    add("--rates", type=rates, default=(100.0, 200.0, 300.0, 400.0), help="orders/s of part 1")
    add("--duration", type=float, help="seconds per rate (60; 3 with --quick)")
    add("--p99-limit", type=float, default=25.0, help="ms the sweep holds p99 to")
    add("--sweep-start", type=float, default=100.0, help="first rate of the sweep")
    add("--sweep-step", type=float, default=50.0, help="orders/s added per sweep step")
    add("--sweep-max", type=float, default=2000.0, help="highest rate the sweep tries")
    add("--sweep-duration", type=float, help="seconds per sweep step (20; 3 with --quick)")
    add("--cpu-rate", type=float, default=200.0, help="rate of the CPU-per-order figure")
    add("--serial", type=int, help="orders sent one at a time for part 5 (1000; 200 quick)")
    add("--two-rates", type=rates, default=(300.0, 600.0), help="orders/s of part 7")
    add("--two-duration", type=float, help="seconds per rate of part 7 (60; 3 with --quick)")
    add("--warmup", type=int, help="orders sent before measuring (300; 100 with --quick)")
    add("--orders", type=int, help="orders to simulate (200000; 20000 with --quick)")
    add("--seed", type=int, default=7, help="simulation seed")
    add("--data-dir", type=Path, help="default: .ordershield/bench-<store>[-quick]")
    add("--redis-url", default="redis://127.0.0.1:6379/3", help="a Redis DB of its own")
    add("--database-url", help="decisions DB of parts 1-5; default: SQLite in the data dir")
    add("--shared-database-url", default=SHARED_DATABASE, help="PostgreSQL DB of part 7")
    add("--connections", type=int, default=64, help="open-loop connections per server")
    args = parser.parse_args()
    quick = args.quick
    for name, full, short in (
        ("duration", 60.0, 3.0),
        ("sweep_duration", 20.0, 3.0),
        ("two_duration", 60.0, 3.0),
        ("serial", 1000, 200),
        ("warmup", 300, 100),
    ):
        if getattr(args, name) is None:
            setattr(args, name, short if quick else full)
    return args


def make_plan(args: argparse.Namespace) -> Plan:
    """Return the phases of one server's session (part 1 runs the CPU rate if it lacks it)."""
    part_one = args.rates if args.cpu_rate in args.rates else (*args.rates, args.cpu_rate)
    return Plan(
        warmup=args.warmup,
        serial=args.serial,
        rates=part_one,
        duration=args.duration,
        sweep_start=args.sweep_start,
        sweep_step=args.sweep_step,
        sweep_max=args.sweep_max,
        sweep_duration=args.sweep_duration,
        limit_ms=args.p99_limit,
        cpu_rate=args.cpu_rate,
    )


def settings_of(
    args: argparse.Namespace, store: str, data_dir: Path | None, database_url: str | None
) -> ServiceSettings:
    """Return the settings of one data dir, its online store and decisions database."""
    default = Path(".ordershield") / f"bench-{store}{'-quick' if args.quick else ''}"
    return ServiceSettings(
        data_dir=(data_dir or default).resolve(),
        online_store=store,
        redis_url=args.redis_url,
        database_url=database_url,
    )


def sweep_orders(plan: Plan) -> int:
    """Return the orders of a sweep that runs to its highest rate."""
    count, rate = 0, plan.sweep_start
    while rate <= plan.sweep_max:
        count += math.ceil(rate * plan.sweep_duration)
        rate += plan.sweep_step
    return count


def ready(settings: ServiceSettings, args: argparse.Namespace, needed: int) -> Feed:
    """Return the data dir's feed, preparing it first if it is missing, stale or used up."""
    orders, days, live = QUICK_DATA if args.quick else FULL_DATA
    orders = args.orders or orders
    live = min(live, orders // 4)
    if is_prepared(settings):
        feed = Feed(settings, load_stream(settings))
        if feed.room() >= needed:
            return feed
        say(f"the replay of {settings.data_dir.name} has too little time left: preparing again")
    if (settings.data_dir / MARKER_FILE).exists():
        shutil.rmtree(settings.data_dir)  # only a benchmark's own data dir has the marker
    prepare(settings, orders, live, args.seed, days)
    return Feed(settings, load_stream(settings))


def main() -> int:
    """Prepare, run every part, print the report; return 1 if an order outside the sweep failed."""
    warnings.filterwarnings("ignore")
    for name in ("feast", "mlflow", "shap"):
        logging.getLogger(name).setLevel(logging.ERROR)
    args = parse_args()
    plan = make_plan(args)
    single = settings_of(args, args.online_store, args.data_dir, args.database_url)
    two_dir = args.data_dir if args.online_store == "redis" else None
    two = settings_of(args, "redis", two_dir, args.shared_database_url)
    two_orders = args.warmup + sum(math.ceil(r * args.two_duration) for r in args.two_rates)
    single_orders = plan.orders() + sweep_orders(plan)
    if single.data_dir == two.data_dir:
        feed = ready(single, args, single_orders + two_orders)
        feeds = (feed, feed)
    else:
        feeds = (ready(single, args, single_orders), ready(two, args, two_orders))
    command = shlex.join(["python", *sys.argv])
    parts = Parts(single, two, plan, args.two_rates, args.two_duration, args.connections)
    return run_parts(parts, feeds, command)


if __name__ == "__main__":
    sys.exit(main())
