"""Online and offline amounts agree: mixed currencies, rates that change, currencies without one."""

from __future__ import annotations

import math
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from features.aggregates import AGGREGATES
from features.columns import enrich, to_columns
from features.currency import RateTable, write_rates
from features.offline import point_in_time
from features.order_row import order_columns, with_reporting_amount
from features.spec import ENTITIES, Stream
from features.state import EntityState, apply_event, dumps, evaluate, loads
from features.vector import feature_matrix
from tests.features.eventlog import random_orders

AMOUNT_AGGREGATES = [f for f in AGGREGATES if f.of == "amount_reporting"]
START = date(2026, 3, 1)  # the first day of `random_orders`


@pytest.fixture()
def mixed_orders(tmp_path: Path) -> tuple[pd.DataFrame, RateTable]:
    """Orders in EUR, USD, GBP and JPY, and a rate table that moves USD and lacks JPY."""
    path = tmp_path / "rates.csv"
    write_rates(
        path,
        "EUR",
        [
            (START, "USD", 1.10),
            (START + timedelta(days=20), "USD", 1.25),
            # GBP orders of the first ten days have no rate: their amounts are missing.
            (START + timedelta(days=10), "GBP", 0.85),
        ],
    )
    orders = random_orders(1200, seed=11)
    codes = np.random.default_rng(11).choice(["EUR", "USD", "GBP", "JPY"], len(orders))
    orders["currency"] = pd.array(codes, dtype="string")
    yen = codes == "JPY"
    orders.loc[yen, "amount"] = np.round(orders.loc[yen, "amount"] * 160)
    return orders, RateTable.read(path, "EUR")


def _canonical(orders: pd.DataFrame, row: int) -> dict[str, Any]:
    """Return one order as scoring hands it to the online path (times in epoch ms)."""
    record: dict[str, Any] = {}
    for name, value in orders.iloc[row].items():
        if isinstance(value, pd.Timestamp):
            value = value.value // 1_000_000
        record[str(name)] = None if pd.isna(value) else value
    return record


def test_the_online_path_serves_the_offline_amount_features(
    mixed_orders: tuple[pd.DataFrame, RateTable],
) -> None:
    orders, rates = mixed_orders
    columns = to_columns(enrich(orders, rates))
    offline = point_in_time(columns, AMOUNT_AGGREGATES)
    names = ["amount", "amount_vs_customer_mean", *(f.name for f in AMOUNT_AGGREGATES)]
    expected = feature_matrix(columns, offline, names)
    states: dict[str, dict[str, EntityState]] = {e.name: {} for e in ENTITIES}
    for row in np.argsort(columns["created_at"], kind="stable"):
        order = with_reporting_amount(order_columns(_canonical(orders, int(row))), rates)
        now = int(order["created_at"][0])
        served = {f.name: np.array([np.nan]) for f in AMOUNT_AGGREGATES}
        for entity in ENTITIES:
            key = order[entity.key][0]
            features = [f for f in AMOUNT_AGGREGATES if f.entity == entity]
            if key is None or not features:
                continue
            state = loads(dumps(states[entity.name].get(key, {})))
            served |= {f.name: np.array([evaluate(state, f, now)]) for f in features}
            row_values = {name: values[0] for name, values in order.items()}
            apply_event(state, features, Stream.ORDERS, now, row_values)
            states[entity.name][key] = state
        got = feature_matrix(order, served, names)[0]
        same = (got == expected[row]) | (np.isnan(got) & np.isnan(expected[row]))
        assert same.all(), (
            row,
            dict(zip(names, zip(got, expected[row], strict=True), strict=True)),
        )
    # The replay met converted, unconverted and missing amounts alike.
    amounts = columns["amount_reporting"]
    assert np.isnan(amounts).sum() > 100 and (amounts != columns["amount"]).sum() > 100
    assert not math.isnan(float(np.nanmax(expected[:, names.index("customer_amount_mean")])))
