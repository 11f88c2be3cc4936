"""The online state: replaying the log through it serves exactly the offline values."""

from __future__ import annotations

import math

import numpy as np

from features.aggregates import AGGREGATES
from features.catalog import current
from features.columns import DECLINE_DELAY_MS, lead_ms
from features.offline import point_in_time
from features.snapshot import snapshot
from features.spec import ENTITIES, Stream
from features.state import (
    WITHDRAWN,
    EntityState,
    apply_event,
    dumps,
    evaluate,
    stream_field,
)
from tests.features.eventlog import events_of, random_columns, replay_against_offline


def test_replay_serves_the_offline_vector_order_by_order() -> None:
    assert replay_against_offline(random_columns(1500, seed=2), current()) > 40_000


def test_windows_decay_while_nothing_happens() -> None:
    columns = random_columns(800, seed=4)
    as_of = int(np.nanmax(columns["created_at"])) + 1
    device = next(d for d in columns["device_id"][::-1] if d is not None)
    state = snapshot(columns, next(e for e in ENTITIES if e.name == "device"), AGGREGATES, as_of)[
        device
    ]
    feature = next(f for f in AGGREGATES if f.name == "device_orders_1h")
    now = evaluate(state, feature, as_of)
    later = evaluate(state, feature, as_of + 2 * 3_600_000)
    age_now = evaluate(state, next(f for f in AGGREGATES if f.name == "device_age_hours"), as_of)
    age_later = evaluate(
        state, next(f for f in AGGREGATES if f.name == "device_age_hours"), as_of + 7_200_000
    )
    assert now >= 1 and later == 0
    assert age_later == age_now + 2


def test_snapshot_equals_replayed_state_at_the_same_moment() -> None:
    columns = random_columns(1200, seed=6)
    as_of = int(np.nanmax(columns["created_at"])) + 1
    for entity in ENTITIES:
        snap = snapshot(columns, entity, AGGREGATES, as_of)
        replayed: dict[str, EntityState] = {}
        for time_ms, _, row, stream, withdraws in events_of(columns):
            key = columns[entity.key][row]
            if key is None or time_ms - lead_ms(stream) >= as_of:  # posted after it
                continue
            order = {name: values[row] for name, values in columns.items()}
            apply_event(
                replayed.setdefault(key, {}),
                [f for f in AGGREGATES if f.entity == entity],
                stream,
                int(time_ms),
                order,
                withdraws_ms=withdraws,
            )
        for key, state in replayed.items():
            for feature in (f for f in AGGREGATES if f.entity == entity):
                for read_at in (as_of, as_of + 3_600_000 * 30):
                    a = evaluate(state, feature, read_at)
                    b = evaluate(snap.get(key), feature, read_at)
                    assert (math.isnan(a) and math.isnan(b)) or a == b, (
                        entity.name,
                        key,
                        feature.name,
                    )


HOUR_MS = 3_600_000
DEVICE_ORDERS_1H = next(f for f in AGGREGATES if f.name == "device_orders_1h")
DEVICE_ACCOUNTS_24H = next(f for f in AGGREGATES if f.name == "device_accounts_24h")
DEVICE_FEATURES = [f for f in AGGREGATES if f.entity.name == "device"]


def _order(customer: str = "c") -> dict[str, object]:
    return {"device_id": "d", "customer_id": customer, "payment_id": "p"}


def test_a_late_order_still_reads_the_oldest_bucket_of_its_window() -> None:
    start = 1_780_000_000_000 // HOUR_MS * HOUR_MS
    state: EntityState = {}
    apply_event(state, DEVICE_FEATURES, Stream.ORDERS, start, _order(), lateness_ms=60_000)
    newest = start + HOUR_MS + 30_000
    apply_event(state, DEVICE_FEATURES, Stream.ORDERS, newest, _order(), lateness_ms=60_000)
    # 31 s later than the newest event: within the lateness bound, so exact.
    late = start + HOUR_MS - 1_000
    assert evaluate(state, DEVICE_ORDERS_1H, late) == 1.0
    assert evaluate(state, DEVICE_ORDERS_1H, newest + 1) == 1.0


def test_an_event_ahead_of_a_read_is_not_in_it() -> None:
    at = 1_780_000_000_000
    state: EntityState = {}
    apply_event(state, DEVICE_FEATURES, Stream.ORDERS, at, _order())
    apply_event(state, DEVICE_FEATURES, Stream.ORDERS, at + 250_000, _order())
    assert evaluate(state, DEVICE_ORDERS_1H, at + 1) == 1.0
    age = next(f for f in DEVICE_FEATURES if f.name == "device_age_hours")
    assert evaluate(state, age, at) != evaluate(state, age, at)  # NaN: nothing before it


def test_a_hot_entity_keeps_a_bounded_state_and_reads_as_offline() -> None:
    n = 2_000
    start = 1_780_000_000_000
    columns = {
        "order_id": np.array([f"o{i}" for i in range(n)], dtype=object),
        "created_at": start + np.arange(n, dtype=float) * 100,
        "device_id": np.array(["nat"] * n, dtype=object),
        "customer_id": np.array([f"c{i}" for i in range(n)], dtype=object),
        "payment_id": np.array([f"p{i % 7}" for i in range(n)], dtype=object),
    }
    offline = point_in_time(columns, [DEVICE_ACCOUNTS_24H])[DEVICE_ACCOUNTS_24H.name]
    state: EntityState = {}
    for i in range(n):
        t = int(columns["created_at"][i])
        assert evaluate(state, DEVICE_ACCOUNTS_24H, t) == offline[i]
        apply_event(state, DEVICE_FEATURES, Stream.ORDERS, t, _order(f"c{i}"))
    assert offline[-1] == DEVICE_ACCOUNTS_24H.cap
    assert len(state["@orders"][3]) <= 256
    _, buckets = state[DEVICE_ACCOUNTS_24H.name]
    assert buckets and all(len(s) <= DEVICE_ACCOUNTS_24H.cap for s in buckets if s is not None)
    assert len(dumps(state)) < 64_000


def test_a_decline_posted_before_it_counts_does_not_fold_what_a_late_order_reads() -> None:
    payment = [f for f in AGGREGATES if f.entity.name == "payment"]
    declines = next(f for f in payment if f.name == "payment_declines_1h")
    start = 1_780_000_000_000 // HOUR_MS * HOUR_MS
    state: EntityState = {}
    for at in (start, start + 605_000):  # two declined orders, declines posted at once
        apply_event(state, payment, Stream.ORDERS, at, _order())
        apply_event(state, payment, Stream.DECLINES, at + DECLINE_DELAY_MS, _order())
    # An order 595 s late (within the 600 s bound): the first decline counts after it.
    assert evaluate(state, declines, start + 10_000) == 0.0
    assert evaluate(state, declines, start + 31_000) == 1.0


def test_a_withdrawal_stops_counting_just_after_it_and_folds_into_its_bucket() -> None:
    at = 1_780_000_000_000
    fraud = [f for f in AGGREGATES if f.entity.name == "customer" and f.stream is Stream.FRAUD]
    (count,) = fraud
    state: EntityState = {}
    apply_event(state, fraud, Stream.FRAUD, at + 10, {})
    apply_event(state, fraud, Stream.FRAUD, at + 20, {}, withdraws_ms=at + 10)
    assert [evaluate(state, count, at + t) for t in (10, 11, 20, 21)] == [0.0, 1.0, 1.0, 0.0]
    # Past the lateness bound both are folded: the label is out of its count for good.
    apply_event(state, fraud, Stream.FRAUD, at + 3 * HOUR_MS, {})
    assert state[count.name] == 0 and state[stream_field(Stream.FRAUD)][WITHDRAWN] == []
    assert evaluate(state, count, at + 2 * HOUR_MS) == 0.0
    assert evaluate(state, count, at + 3 * HOUR_MS + 1) == 1.0


def test_an_order_a_year_late_leaves_the_state_small() -> None:
    at = 1_780_000_000_000
    state: EntityState = {}
    for i in range(3):
        apply_event(state, DEVICE_FEATURES, Stream.ORDERS, at + i * 1000, _order(f"c{i}"))
    size = len(dumps(state))
    apply_event(state, DEVICE_FEATURES, Stream.ORDERS, at - 365 * 24 * HOUR_MS, _order("old"))
    assert len(dumps(state)) < size + 200
    assert evaluate(state, DEVICE_ORDERS_1H, at + 5000) == 3.0
