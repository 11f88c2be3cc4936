"""The online store under faults: writes that time out yet land, a dead store, a lost memory."""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import redis

from features.aggregates import AGGREGATES
from features.build import build_offline_sources
from features.columns import enrich
from features.online import STATE_LOST, STORE_DOWN, OnlineFeatures
from features.order_row import order_columns
from features.settings import FeatureSettings
from features.spec import Stream
from features.state_stores import OnlineStateLost, OnlineStoreUnavailable
from features.store import apply, materialize, open_store
from service.cli.local_redis import RedisServer
from tests.features.eventlog import random_orders

DEVICE_COUNT = next(f for f in AGGREGATES if f.name == "device_orders_30d")


@pytest.fixture()
def features(
    own_redis: RedisServer, tmp_path: Path
) -> tuple[OnlineFeatures, pd.DataFrame, FeatureSettings]:
    orders = random_orders(400, seed=5)
    settings = FeatureSettings(
        data_dir=tmp_path / "data", online_store="redis", redis_url=own_redis.url
    )
    build_offline_sources(orders, settings)
    apply(settings)
    materialize(settings)
    return OnlineFeatures(open_store(settings), settings), enrich(orders), settings


def one_order(orders: pd.DataFrame) -> Mapping[str, np.ndarray]:
    row = {str(k): v for k, v in orders.dropna(subset=["device_id"]).iloc[-1].to_dict().items()}
    row["order_id"] = "fault-order"
    row["created_at"] = int(pd.Timestamp(row["created_at"]).value // 1_000_000) + 1000
    for name in ("customer_created_at", "label_known_at", "fraud_known_at", "labelled_at"):
        row.pop(name, None)
    return order_columns(row)


def device_count(features: OnlineFeatures, order: Mapping[str, np.ndarray], at: int) -> float:
    """Return the order's device count as read by an order of the same device at `at`."""
    reader = {**order, "created_at": np.array([float(at)])}
    with features.holding(reader, Stream.ORDERS, at) as held:
        return float(held.served([DEVICE_COUNT.name]).matrix[0, 0])


def test_a_write_that_times_out_but_lands_counts_once(
    features: tuple[OnlineFeatures, pd.DataFrame, FeatureSettings], own_redis: RedisServer
) -> None:
    online, orders, _ = features
    order = one_order(orders)
    at = int(order["created_at"][0])
    before = device_count(online, order, at + 1)
    assert own_redis.process is not None
    pid = own_redis.process.pid
    with online.holding(order, Stream.ORDERS, at) as held:
        # Redis stops after the read: the write reaches its socket, the client times out,
        # and Redis applies it once it runs again.
        os.kill(pid, signal.SIGSTOP)
        threading.Timer(0.2, os.kill, (pid, signal.SIGCONT)).start()
        with pytest.raises(OnlineStoreUnavailable):
            held.record()
    time.sleep(0.4)
    assert device_count(online, order, at + 1) == before + 1, "the timed-out write did not land"
    # The outbox's retry of the same event: its read finds the event applied.
    online.record(order, Stream.ORDERS, at)
    online.record(order, Stream.ORDERS, at)
    assert device_count(online, order, at + 1) == before + 1


def test_a_dead_store_opens_the_breaker_and_a_probe_closes_it(
    features: tuple[OnlineFeatures, pd.DataFrame, FeatureSettings],
    own_redis: RedisServer,
    tmp_path: Path,
) -> None:
    online, orders, _ = features
    order = one_order(orders)
    at = int(order["created_at"][0])
    assert own_redis.process is not None
    os.kill(own_redis.process.pid, signal.SIGSTOP)
    try:
        timings = []
        for _ in range(6):
            started = time.perf_counter()
            with online.holding(order, Stream.ORDERS, at) as held:
                assert held.degraded_part == STORE_DOWN
            timings.append(time.perf_counter() - started)
        # Each call before the breaker opens waits out the store's timeout; after, none do.
        assert all(t < 0.1 for t in timings), timings
        assert str(online.breaker.state) == "open"
        assert max(timings[3:]) < 0.005, timings
    finally:
        os.kill(own_redis.process.pid, signal.SIGCONT)
    time.sleep(1.1)  # the breaker's reset time: the next call is the probe
    assert online.ping() is None
    assert str(online.breaker.state) == "closed"


def test_an_emptied_store_reads_as_lost_not_as_new_entities(
    features: tuple[OnlineFeatures, pd.DataFrame, FeatureSettings], own_redis: RedisServer
) -> None:
    online, orders, _ = features
    order = one_order(orders)
    at = int(order["created_at"][0])
    assert device_count(online, order, at + 1) > 0
    redis.Redis.from_url(own_redis.url).flushall()
    with online.holding(order, Stream.ORDERS, at) as held:
        assert held.degraded_part == STATE_LOST
        assert np.isnan(held.served([DEVICE_COUNT.name]).matrix[0, 0])
        with pytest.raises(OnlineStoreUnavailable):
            held.record()
    assert online.state_lost


def test_a_store_restored_from_an_older_copy_is_noticed(
    features: tuple[OnlineFeatures, pd.DataFrame, FeatureSettings], own_redis: RedisServer
) -> None:
    online, orders, settings = features
    order = one_order(orders)
    at = int(order["created_at"][0])
    client = redis.Redis.from_url(own_redis.url)
    keys = client.keys("*")
    saved = {key: client.dump(key) for key in keys}
    online.record(order, Stream.ORDERS, at)
    online.record(order, Stream.DECLINES, at + 5)
    # Put every key back as it was before those writes (what restoring an old snapshot does).
    client.flushall()
    for key, value in saved.items():
        assert value is not None
        client.restore(key, 0, value)
    with pytest.raises(OnlineStateLost):
        online.states.read({})
    # Once one process saw it, the marker says so to every other process too.
    fresh = OnlineFeatures(open_store(settings), settings)
    assert fresh.ping() == STATE_LOST


def test_a_new_build_by_another_process_between_read_and_write_is_not_a_loss(
    features: tuple[OnlineFeatures, pd.DataFrame, FeatureSettings],
) -> None:
    online, orders, settings = features
    order = one_order(orders)
    at = int(order["created_at"][0])
    online.record(order, Stream.ORDERS, at)  # this process has seen a generation > 0
    with online.holding(order, Stream.DECLINES, at + 5) as held:
        materialize(settings)  # another process: a new epoch, its count back at 0
        held.record()
    assert online.ping() is None
    assert OnlineFeatures(open_store(settings), settings).ping() is None
