"""The benchmark's data dir: a prepared history, a champion, and a live stream to replay.

The first run on a data dir prepares it: it simulates orders, holds the last
ones out as the live stream, builds the offline features from the rest, applies
and materializes the Feast repo, trains and promotes a champion. A marker file
records the online store it was prepared for and how far in time earlier runs
have replayed the stream, so every later request is a new order, later than
everything the data dir has seen.

The simulated history ends `REPLAY_ROOM` before the day it is prepared: the
service refuses orders from the future, and every run moves the replay clock on
by the stream's own pace, lap after lap. A Redis DB holds the states of one data
dir at a time; a key in it (`OWNER_KEY`) names that data dir, so a data dir
whose states another one replaced is prepared again.
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd
import redis

from features.catalog import spec_hash
from features.settings import RATES_FILE
from service.settings import ServiceSettings

LIVE_FILE = "bench-live.parquet"
MARKER_FILE = "bench.json"
LAP_GAP_MS = 60_000
REPLAY_ROOM = timedelta(days=5 * 365)
OWNER_KEY = "ordershield-bench:data-dir"


def say(message: str) -> None:
    """Print a progress line."""
    print(f"[bench] {message}", flush=True)


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

    def fits_before(self, limit_ms: int) -> int:
        """Return how many requests, from the first on, have order times up to `limit_ms`."""
        room = limit_ms - self.base_shift_ms
        last = int(self.created_ms[-1])
        laps = (room - last) // self.lap_ms + 1 if room >= last else 0
        left = room - laps * self.lap_ms
        return laps * len(self.payloads) + int(np.searchsorted(self.created_ms, left, "right"))


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat()


def _marker(settings: ServiceSettings) -> dict[str, Any]:
    path = settings.data_dir / MARKER_FILE
    return dict(json.loads(path.read_text())) if path.exists() else {}


def write_marker(settings: ServiceSettings, clock_ms: int, batch: int) -> None:
    # `batch` (when the data dir was prepared) keeps order ids unique across preparations.
    redis_url = settings.redis_url.get_secret_value()
    marker = {"online_store": settings.online_store, "redis_url": redis_url}
    # The spec its champion was trained on: a data dir of another spec is prepared again.
    text = json.dumps({**marker, "clock_ms": clock_ms, "batch": batch, "spec_hash": spec_hash()})
    (settings.data_dir / MARKER_FILE).write_text(text)


def is_prepared(settings: ServiceSettings) -> bool:
    """Return whether the data dir holds a live stream and a servable champion for this store.

    Told from the marker alone, without opening the model registry: MLflow keeps the
    store it opened for a data dir, and would write into the deleted one once the
    data dir is removed and prepared again in this process.
    """
    marker = _marker(settings)
    if marker.get("online_store") != settings.online_store:
        return False
    if marker.get("spec_hash") != spec_hash():
        say("preparing again: the data dir's champion was trained on another feature spec")
        return False
    if not (settings.data_dir / RATES_FILE).exists():
        say("preparing again: the data dir has no exchange rates (prepared by an older release)")
        return False
    if settings.online_store == "redis":
        redis_url = settings.redis_url.get_secret_value()
        owner = _redis(settings).get(OWNER_KEY)
        if marker.get("redis_url") != redis_url or owner != _owner(settings):
            say(f"preparing again: {redis_url} holds the states of another data dir, or none")
            return False
    return True


def _redis(settings: ServiceSettings) -> redis.Redis[bytes]:
    """Return a client of the benchmark's Redis; a flush of a large store may take seconds."""
    url = settings.redis_url.get_secret_value()
    return redis.Redis.from_url(url, socket_timeout=30, socket_connect_timeout=5)


def _owner(settings: ServiceSettings) -> bytes:
    return str(settings.data_dir.resolve()).encode()


def prepare(
    settings: ServiceSettings, n_orders: int, live: int, seed: int, days: int = 120
) -> None:
    """Simulate `days` of history, hold out the live stream, build features, train, promote."""
    from features.build import build_offline_sources
    from features.schema import conform
    from features.store import apply, materialize
    from models.registry import promote
    from service.cli.simulated_rates import write_simulated_rates
    from training.sources.simulator import simulate_orders
    from training.train import train

    if settings.data_dir.exists() and any(settings.data_dir.iterdir()) and not _marker(settings):
        sys.exit(f"{settings.data_dir} holds other data: remove it or pass another --data-dir")
    if live >= n_orders // 2:
        sys.exit(f"--orders {n_orders:,} is too few for {live:,} live orders")
    if settings.online_store == "redis":
        _redis(settings).flushdb()
    say(f"preparing {settings.data_dir}: simulating {n_orders:,} orders")
    start = datetime.now(UTC) - REPLAY_ROOM - timedelta(days=days)
    orders = simulate_orders(n_orders, seed=seed, start=start.date().isoformat(), days=days)
    orders = orders.sort_values("created_at", kind="stable")
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    orders.iloc[:-live].to_parquet(settings.orders_path, index=False)
    orders.iloc[-live:].to_parquet(settings.data_dir / LIVE_FILE, index=False)
    # The simulator's amounts are in several currencies: its rate table converts them.
    write_simulated_rates(settings)
    say(f"building features from {n_orders - live:,} orders, {live:,} held out as live")
    build_offline_sources(conform(pd.read_parquet(settings.orders_path)), settings)
    apply(settings)
    say(f"materialized {materialize(settings):,} entity states; training")
    result = train(settings)
    promote(settings, result.version)
    say(f"promoted version {result.version}")
    if settings.online_store == "redis":
        _redis(settings).set(OWNER_KEY, _owner(settings))
    write_marker(settings, int(_epoch_ms(orders["created_at"])[-live]), int(time.time()))


def load_stream(settings: ServiceSettings) -> LiveStream:
    """Return the live stream, shifted to start after everything sent before."""
    from training.sources.payloads import order_payload

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
