"""Several processes update the same entities in one store at once: nothing lost, nothing twice.

Each process applies its share of one event log through the online path, in
an order of its own, and some events are applied by two processes (a retry
from another host). Afterwards every entity, read at several later times,
must hold exactly the offline point-in-time values over the whole log.
"""

from __future__ import annotations

import multiprocessing
import random
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
import pytest

from features.aggregates import AGGREGATES
from features.build import build_offline_sources
from features.columns import DECLINE_DELAY_MS, to_columns
from features.offline import point_in_time
from features.online import OnlineFeatures
from features.order_row import order_columns
from features.settings import FeatureSettings
from features.spec import Stream
from features.state_stores import OnlineStoreUnavailable
from features.store import apply, materialize, open_store
from tests.features.eventlog import one_order, random_orders, raw_event_times, with_probes

ORDERS = 300
NAMES = [f.name for f in AGGREGATES]
CANONICAL = (
    "order_id",
    "customer_id",
    "device_id",
    "ip",
    "payment_id",
    "shipping_address_id",
    "amount",
    "limited_quantity",
)
# (order, stream, time) and, for a withdrawal, the time of the fraud label it withdraws.
Event = tuple[dict[str, Any], str, int] | tuple[dict[str, Any], str, int, int]


def _log() -> pd.DataFrame:
    """Return a log of orders on a handful of hot entities, with declines and fraud labels."""
    frame = random_orders(ORDERS, seed=11, days=3)
    frame["order_id"] = [f"writers-{i}" for i in range(ORDERS)]
    for column, count in (("customer_id", 5), ("device_id", 3), ("payment_id", 4)):
        frame[column] = [f"w-{column}-{i % count}" for i in range(ORDERS)]
    frame["shipping_address_id"] = "w-address"
    frame["ip"] = [("198.51.100.", "203.0.113.")[i % 2] + str(i % 200) for i in range(ORDERS)]
    # After everything the materialized history holds: these events are new to the store.
    for column in ("created_at", "label_known_at", "fraud_known_at"):
        frame[column] = frame[column] + pd.Timedelta(days=90)
    return frame


def _events(frame: pd.DataFrame) -> list[Event]:
    columns = to_columns(frame)
    first_labels = raw_event_times(columns, Stream.LABELS)
    events: list[Event] = []
    for i in range(len(frame)):
        order = {c: (None if pd.isna(frame.iloc[i][c]) else frame.iloc[i][c]) for c in CANONICAL}
        order = {k: (v.item() if isinstance(v, np.generic) else v) for k, v in order.items()}
        created = int(columns["created_at"][i])
        order["created_at"] = created
        events.append((order, Stream.ORDERS.value, created))
        if columns["payment_declined"][i] == 1.0:
            events.append((order, Stream.DECLINES.value, created + DECLINE_DELAY_MS))
        if not np.isnan(labelled := first_labels[i]):
            events.append((order, Stream.LABELS.value, int(labelled)))
        if columns["label"][i] == 1.0:
            events.append((order, Stream.FRAUD.value, int(columns["label_known_at"][i])))
        if not np.isnan(flagged := columns["fraud_known_at"][i]):
            withdrawn = int(columns["label_known_at"][i])
            events.append((order, Stream.FRAUD.value, int(flagged)))
            events.append((order, Stream.FRAUD.value, withdrawn, int(flagged)))
    return events


def _apply_share(settings: FeatureSettings, events: list[Event]) -> int:
    """Apply events through the online path; retry any the store put off (as the outbox would)."""
    online = OnlineFeatures(open_store(settings), settings)
    put_off = 0
    for order, stream, time_ms, *withdraws in events:
        for _ in range(100):
            try:
                online.record(order_columns(order), Stream(stream), time_ms, None, *withdraws)
                break
            except OnlineStoreUnavailable:
                put_off += 1
        else:
            raise RuntimeError(f"{order['order_id']} {stream} was put off 100 times")
    return put_off


@pytest.mark.parametrize(("store", "processes"), [("redis", 2), ("redis", 4), ("sqlite", 2)])
def test_concurrent_writers_on_one_store_keep_the_offline_truth(
    store: Literal["redis", "sqlite"], processes: int, redis_url: str, tmp_path: Path
) -> None:
    settings = FeatureSettings(
        data_dir=tmp_path / "data",
        online_store=store,
        redis_url=f"{redis_url.rsplit('/', 1)[0]}/{8 + processes}",
        online_store_timeout_ms=2_000,
        online_store_breaker_failures=1_000_000,
    )
    build_offline_sources(random_orders(100, seed=2), settings)
    apply(settings)
    materialize(settings)
    frame = _log()
    events = _events(frame)
    rng = random.Random(processes)
    shares: list[list[Event]] = [[] for _ in range(processes)]
    for index, event in enumerate(events):
        shares[index % processes].append(event)
        if rng.random() < 0.1:  # the same event again, from another process
            shares[(index + 1) % processes].append(event)
    for share in shares:
        rng.shuffle(share)
    with multiprocessing.get_context("spawn").Pool(processes) as pool:
        put_off = pool.starmap(_apply_share, [(settings, share) for share in shares])
    assert sum(len(s) for s in shares) > len(events)

    online = OnlineFeatures(open_store(settings), settings)
    last = max(event[2] for event in events)
    compared = 0
    for later in (last + 1, last + 2 * 3_600_000, last + 10 * 86_400_000):
        every, probes = with_probes(frame, range(5), later)
        truth = point_in_time(every, AGGREGATES)
        for at in probes:
            with online.holding(one_order(every, at), Stream.ORDERS, later) as held:
                served = held.served(NAMES).matrix[0]
            for name, value in zip(NAMES, served, strict=True):
                expected = truth[name][at]
                same = (np.isnan(value) and np.isnan(expected)) or value == expected
                assert same, (later, at, name, value, expected, put_off)
                compared += 1
    assert compared == 3 * 5 * len(NAMES)
