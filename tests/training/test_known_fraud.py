"""Entities known as compromised before a test day are left out of it, as published protocols do."""

from __future__ import annotations

import pandas as pd

from training.backtest import known_fraud_before_day


def test_an_entity_is_left_out_from_the_day_after_its_fraud_became_known() -> None:
    at = pd.to_datetime(
        [
            "2026-05-01 10:00",  # card a: fraud, known 05-03 09:00
            "2026-05-03 08:00",  # card a: before its fraud was known, same day: kept
            "2026-05-03 23:00",  # card a: known since 09:00, but the day began before: kept
            "2026-05-04 00:30",  # card a: known before the day began: left out
            "2026-05-04 12:00",  # card b: never fraud: kept
            "2026-05-05 12:00",  # card c: flagged 05-02, withdrawn later: still known then
        ],
        utc=True,
    )
    orders = pd.DataFrame(
        {
            "created_at": at,
            "label": [1, None, None, None, 0, 0],
            "label_known_at": pd.to_datetime(
                ["2026-05-03 09:00", None, None, None, "2026-05-10 00:00", "2026-05-20 00:00"],
                utc=True,
            ),
            "fraud_known_at": pd.to_datetime(
                [None, None, None, None, None, "2026-05-02 00:00"], utc=True
            ),
        }
    )
    entities = pd.Series(["a", "a", "a", "a", "b", "c"])
    assert known_fraud_before_day(orders, entities).tolist() == [
        False,
        False,
        False,
        True,
        False,
        True,
    ]
