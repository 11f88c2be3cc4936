"""CPU per order of the scoring path, in this thread, with an optional cProfile of it.

Usage, from the repository root with the project's virtualenv, on a data dir
that `bench.py` prepared (it moves the data dir's replay clock on, as a run does):

    python benchmarks/profile_decide.py --data-dir .ordershield/bench-redis-quick \
        --orders 2000 [--profile 30] [--threads 1]

The server scores an order in a pool thread, where a profiler hooked to the
request's thread sees nothing. Here `ScoringService.answer` runs in this
process, on the state the app's lifespan builds, with no HTTP in front: each
order is validated from its JSON body (`Order.model_validate_json`) and
answered as the route does. It prints the CPU time per order (this process's
user + system time over the orders), the wall time per order and how many
transactions committed the decisions; `--profile N` (with one thread: the
profiler sees its own thread only) prints the N most expensive functions by
their own time and by their cumulative time.
`--threads` > 1 decides orders from that many threads at once (group commit
then shares transactions).
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from bench_steps import Feed
from live_stream import is_prepared, load_stream, say

from service.app import build_state, settle_collector
from service.inputs import bounded, time_bounds
from service.persistence.repository import decision_committer
from service.scoring.schemas import Order
from service.scoring.stopwatch import Stopwatch
from service.settings import ServiceSettings


def parse_args() -> argparse.Namespace:
    """Return the command-line options."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, default=Path(".ordershield/bench-redis-quick"))
    parser.add_argument("--online-store", choices=("sqlite", "redis"), default="redis")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/3")
    parser.add_argument("--database-url", help="decisions DB; default: SQLite in the data dir")
    parser.add_argument("--orders", type=int, default=2000, help="orders measured")
    parser.add_argument("--warmup", type=int, default=0, help="orders decided before measuring")
    parser.add_argument("--profile", type=int, default=0, help="functions shown (0: no profile)")
    parser.add_argument("--threads", type=int, default=1, help="threads deciding at once")
    return parser.parse_args()


def main() -> int:
    """Decide the next orders of the data dir's stream in-process; print CPU and wall per order."""
    args = parse_args()
    settings = ServiceSettings(
        data_dir=args.data_dir.resolve(),
        online_store=args.online_store,
        redis_url=args.redis_url,
        database_url=args.database_url,
    )
    if not is_prepared(settings):
        sys.exit(f"{settings.data_dir} is not prepared: run benchmarks/bench.py on it first")
    feed = Feed(settings, load_stream(settings))
    state = build_state(settings)
    settle_collector()  # as the server's lifespan does
    scoring, bounds = state["scoring"], time_bounds(settings)

    def decide(body: bytes) -> None:
        with bounded(bounds):
            order = Order.model_validate_json(body)
        scoring.answer(order, Stopwatch())

    try:
        for body in feed.take(args.warmup)[1]:
            decide(body)
        bodies = feed.take(args.orders)[1]
        stats = decision_committer(state["engine"]).stats
        commits_before = stats.commits
        profiler = cProfile.Profile() if args.profile else None
        cpu, wall = time.process_time(), time.perf_counter()
        if profiler:
            profiler.enable()
        if args.threads > 1:
            with ThreadPoolExecutor(args.threads) as pool:
                list(pool.map(decide, bodies))
        else:
            for body in bodies:
                decide(body)
        if profiler:
            profiler.disable()
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    finally:
        feed.save()
        state["engine"].dispose()
    say(f"{args.orders} orders, {args.threads} thread(s), profiled: {bool(profiler)}")
    say(f"CPU per order {cpu / args.orders * 1000:.3f} ms, wall {wall / args.orders * 1000:.3f} ms")
    say(f"{stats.commits - commits_before} transactions committed the {args.orders} decisions")
    if profiler:
        for key in ("tottime", "cumulative"):
            text = io.StringIO()
            pstats.Stats(profiler, stream=text).sort_stats(key).print_stats(args.profile)
            print(text.getvalue())
    return 0


if __name__ == "__main__":
    sys.exit(main())
