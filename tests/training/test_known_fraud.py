"""Entities known as compromised before a test day are left out of it, as published protocols do."""

from __future__ import annotations

import pandas as pd

from training.backtest import known_fraud_before_day


def times(*values: str | None) -> pd.Series:
    """Return UTC times, None for a missing one."""
    return pd.to_datetime(pd.Series(values, dtype="object"), utc=True)


def test_an_entity_is_left_out_from_the_day_after_its_fraud_became_known() -> None:
    at = times(
        "2026-05-01 10:00",  # card a: fraud, known 05-03 09:00
        "2026-05-03 08:00",  # card a: before its fraud was known, same day: kept
        "2026-05-03 23:00",  # card a: known since 09:00, but the day began before: kept
        "2026-05-04 00:30",  # card a: known before the day began: left out
        "2026-05-04 12:00",  # card b: never fraud: kept
        "2026-05-05 12:00",  # card c: flagged 05-02, withdrawn later: still known then
    )
    orders = pd.DataFrame(
        {
            "created_at": at,
            "label": [1, None, None, None, 0, 0],
            "label_known_at": times(
                "2026-05-03 09:00", None, None, None, "2026-05-10 00:00", "2026-05-20 00:00"
            ),
            "fraud_known_at": times(None, None, None, None, None, "2026-05-02 00:00"),
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


def test_only_frauds_since_the_given_start_count() -> None:
    orders = pd.DataFrame(
        {
            "created_at": times("2026-04-01 10:00", "2026-05-04 10:00"),
            "label": [1, None],
            "label_known_at": times("2026-04-02 10:00", None),
            "fraud_known_at": times(None, None),
        }
    )
    entities = pd.Series(["a", "a"])
    assert known_fraud_before_day(orders, entities).tolist() == [False, True]
    since = pd.Timestamp("2026-05-01", tz="UTC")
    assert known_fraud_before_day(orders, entities, since).tolist() == [False, False]


def test_a_withdrawn_flag_blocks_only_the_days_it_held() -> None:
    orders = pd.DataFrame(
        {
            "created_at": times("2026-05-01 10:00", "2026-05-03 10:00", "2026-05-06 10:00"),
            "label": [0, None, None],  # flagged 05-02, withdrawn 05-04 (a dispute won)
            "label_known_at": times("2026-05-04 12:00", None, None),
            "fraud_known_at": times("2026-05-02 00:00", None, None),
        }
    )
    entities = pd.Series(["a", "a", "a"])
    assert known_fraud_before_day(orders, entities).tolist() == [False, True, False]
