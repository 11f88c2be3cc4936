"""CPU of an order's feature read and state update, on entity states held fixed.

Usage, from the repository root with the project's virtualenv, on a data dir
that `bench.py` prepared:

    python benchmarks/profile_features.py --data-dir .ordershield/bench-redis --orders 400

The next orders of the data dir's stream are read from the online store once
(their five entity states), then, with nothing written and the replay clock
left where it was, each order's served features (`OrderFeatures.served`: every
aggregate evaluated at the order's time, then the request-time features) and
its event applied to copies of its states (`apply_event`) are timed, `--rounds`
times; the best round is printed, per order. Two releases compare on the very
same states and orders, which a run that writes (`profile_decide.py`) cannot
give them.
"""

from __future__ import annotations

import argparse
import copy
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from bench_steps import Feed
from live_stream import is_prepared, load_stream, say

from features.catalog import current
from features.order_row import order_columns
from features.spec import Stream
from features.state import apply_event
from service.app import build_state
from service.inputs import bounded, time_bounds
from service.scoring.schemas import Order
from service.settings import ServiceSettings


def parse_args() -> argparse.Namespace:
    """Return the command-line options."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, default=Path(".ordershield/bench-redis"))
    parser.add_argument("--online-store", choices=("sqlite", "redis"), default="redis")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/3")
    parser.add_argument("--orders", type=int, default=400, help="orders timed")
    parser.add_argument("--rounds", type=int, default=7, help="rounds; the best is printed")
    return parser.parse_args()


def main() -> int:
    """Time served features and state updates of fixed orders on fixed states."""
    args = parse_args()
    settings = ServiceSettings(
        data_dir=args.data_dir.resolve(), online_store=args.online_store, redis_url=args.redis_url
    )
    if not is_prepared(settings):
        sys.exit(f"{settings.data_dir} is not prepared: run benchmarks/bench.py on it first")
    state = build_state(settings)
    scorer = state["model"].current
    if scorer is None:
        sys.exit("no champion model in the data dir")
    features, bounds = state["features"], time_bounds(settings)
    held = []
    for body in Feed(settings, load_stream(settings)).take(args.orders)[1]:  # not saved
        with bounded(bounds):
            order = Order.model_validate_json(body)
        canonical = order.forms(datetime.now(UTC)).canonical
        columns = order_columns(canonical)
        with features.holding(columns, Stream.ORDERS, int(canonical["created_at"])) as order_held:
            held.append((order_held, {name: values[0] for name, values in columns.items()}))
    state["engine"].dispose()
    served = applied = float("inf")
    for _ in range(args.rounds):
        started = time.process_time()
        for order_held, _ in held:
            order_held.served(scorer.card.features)
        served = min(served, (time.process_time() - started) / len(held))
        # The states as read, copied: each round updates the same ones.
        copies = [copy.deepcopy(order_held._read.states) for order_held, _ in held]
        started = time.process_time()
        for (_, row), states in zip(held, copies, strict=True):
            for entity, entity_state in states.items():
                aggregates = current().aggregates_of[entity]
                time_ms = int(row["created_at"])
                apply_event(entity_state, aggregates, Stream.ORDERS, time_ms, row)
        applied = min(applied, (time.process_time() - started) / len(held))
    say(f"{len(held)} orders, best of {args.rounds} rounds, CPU per order:")
    say(f"served features {served * 1e6:.0f} µs, state update {applied * 1e6:.0f} µs")
    return 0


if __name__ == "__main__":
    sys.exit(main())
