"""No leakage: a feature's value at an order's time ignores everything that came later."""

from __future__ import annotations

import numpy as np
import pandas as pd

from features.aggregates import AGGREGATES
from features.columns import enrich, to_columns
from features.offline import point_in_time
from tests.features.eventlog import random_orders


def test_appending_later_orders_and_labels_changes_no_earlier_value() -> None:
    orders = random_orders(2500, seed=5)
    cutoff = orders["created_at"].iloc[1500]
    # What was known at the cutoff: earlier orders, their labels only if already known.
    known = orders[orders["created_at"] < cutoff].copy()
    # A withdrawal not known yet: the fraud label still held then.
    still_fraud = (known["fraud_known_at"] < cutoff) & (known["label_known_at"] >= cutoff)
    known.loc[still_fraud, "label"] = 1
    known.loc[still_fraud, "label_known_at"] = known.loc[still_fraud, "fraud_known_at"]
    known.loc[still_fraud | (known["fraud_known_at"] >= cutoff), "fraud_known_at"] = pd.NaT
    unknown_yet = known["label_known_at"] >= cutoff
    known.loc[unknown_yet, ["label", "label_known_at"]] = [pd.NA, pd.NaT]
    assert still_fraud.sum() > 5  # withdrawals straddle the cutoff too
    before = point_in_time(to_columns(enrich(known)), AGGREGATES)
    after = point_in_time(to_columns(enrich(orders)), AGGREGATES)
    assert unknown_yet.sum() > 50  # the full log does carry later labels for these orders
    for feature in AGGREGATES:
        np.testing.assert_array_equal(
            before[feature.name], after[feature.name][: len(known)], err_msg=feature.name
        )


def test_a_label_counts_only_once_known() -> None:
    orders = random_orders(1500, seed=9)
    values = point_in_time(to_columns(enrich(orders)), AGGREGATES)
    labels_known = orders["label_known_at"].to_numpy()
    for row in range(0, len(orders), 97):
        customer = orders["customer_id"].iloc[row]
        now = orders["created_at"].iloc[row]
        mine = orders[orders["customer_id"] == customer]
        counted = (mine["label"] == 1) & (mine["label_known_at"] < now)
        # A withdrawn fraud label counted from when it was flagged until it was withdrawn.
        withdrawn = (mine["fraud_known_at"] < now) & (mine["label_known_at"] >= now)
        expected = int(counted.sum() + withdrawn.sum())
        assert values["customer_fraud"][row] == expected
    assert labels_known is not None
