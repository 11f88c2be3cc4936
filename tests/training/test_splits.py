"""`train`'s out-of-time split: period options, the label rule, and what a leaking split gets."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from training.protocol import ProtocolError
from training.splits import SplitOptions, gap_text, label_note, parse_gap, plan_split

T0 = pd.Timestamp("2026-01-01", tz="UTC")


def history(days: int = 60, per_day: int = 6, maturity_days: float = 5.0) -> pd.DataFrame:
    """Return orders every few hours over `days` days; every 5th is fraud; labels known late."""
    n = days * per_day
    created = T0 + pd.to_timedelta(np.arange(n) * 24 / per_day, unit="h")
    return pd.DataFrame(
        {
            "order_id": [f"o{i}" for i in range(n)],
            "created_at": created,
            "label": pd.array((np.arange(n) % 5 == 0).astype(int), dtype="Int8"),
            "label_known_at": created + pd.Timedelta(days=maturity_days),
            "fraud_known_at": pd.Series(pd.NaT, index=range(n), dtype="datetime64[ms, UTC]"),
        }
    )


def split(options: dict[str, str], orders: pd.DataFrame | None = None) -> str:
    """Return the split's description, or the error as `train` prints it."""
    try:
        planned = plan_split(SplitOptions.parse(**options), history() if orders is None else orders)
    except ProtocolError as error:
        return f"--{error.option.replace('_', '-')}: {error.problem}"
    return str(planned.describe())


def test_the_default_split_is_todays_with_labels_as_recorded() -> None:
    orders = history()
    planned = plan_split(SplitOptions(), orders)
    span = orders["created_at"].max() - orders["created_at"].min()
    assert abs(planned.train_end - (T0 + 0.6 * span)) <= pd.Timedelta(minutes=1)
    assert abs(planned.valid_end - (T0 + 0.8 * span)) <= pd.Timedelta(minutes=1)
    assert planned.test_start == planned.valid_end and planned.labels_known_by is None
    note = label_note(planned, orders)
    assert "labels were not yet known at the test start" in note and "optimistic" in note


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (
            {"valid_end": "2026-02-10", "test_start": "2026-02-01"},
            "--test-start: 2026-02-01 is before --valid-end 2026-02-10; the test period would "
            "overlap validation",
        ),
        (
            {"train_end": "2026-02-10", "valid_end": "2026-02-01"},
            "--valid-end: 2026-02-01 is not after --train-end 2026-02-10; the validation period "
            "would be empty",
        ),
        (
            {"train_end": "2026-02-25"},
            "--train-end: 2026-02-25 is not before --valid-end 2026-02-17 20:49 (80 % of the "
            "period)",
        ),
        (
            {"valid_end": "2026-02-10", "test_start": "2026-02-12", "gap": "7d"},
            "--test-start: 2026-02-12 is only 2d after --valid-end 2026-02-10, less than --gap 7d",
        ),
        ({"gap": "-3d"}, "--gap: must be 0 or more, got '-3d'"),
        ({"gap": "a week"}, "--gap: cannot read 'a week' as a duration"),
        (
            {"gap": "20d"},
            "--gap: --test-start 2026-03-09 20:49 (--valid-end + --gap) is not before --test-end "
            "2026-03-01 20:01 (the last order); the test period would be empty",
        ),
        ({"test_end": "2026-03-05"}, "--test-end: 2026-03-05 is outside the data"),
        ({"train_start": "2025-12-31"}, "--train-start: 2025-12-31 is outside the data"),
        ({"train_end": "25/07/2018"}, "--train-end: cannot read '25/07/2018' as a date"),
        ({"valid_end": "2026-02-30"}, "--valid-end: '2026-02-30' is not a calendar date"),
        ({"test_start": "2026-02-20T10:00"}, "--test-start: '2026-02-20T10:00' has no time zone"),
        (
            {"train_end": "2026-02-10", "valid_end": "2026-02-12"},
            "--gap: the validation period 2026-02-10 to 2026-02-12 has 3 fraud label(s), none "
            "known before the test start 2026-02-12: lengthen --gap",
        ),
        (
            {"train_start": "2026-01-01T02:00Z", "train_end": "2026-01-01T03:00Z"},
            "--train-end: the training period 2026-01-01 02:00 to 2026-01-01 03:00 holds no orders",
        ),
    ],
)
def test_a_split_that_leaks_or_cannot_hold_is_refused_naming_the_option_and_dates(
    options: dict[str, str], message: str
) -> None:
    assert split(options).startswith(message)


def test_a_period_without_fraud_is_refused() -> None:
    orders = history()
    late = orders["created_at"] >= pd.Timestamp("2026-02-18", tz="UTC")
    orders.loc[late, "label"] = 0
    assert split({"gap": "1d"}, orders).startswith(
        "--test-end: the test period 2026-02-18 20:49 to 2026-03-01 20:01 has no fraud label "
        "among its 66 orders: choose other dates"
    )


def test_training_and_validation_learn_only_labels_known_before_the_test_starts() -> None:
    orders = history(maturity_days=5.0)
    # Some labels of the last training days become known during validation or later.
    planned = plan_split(SplitOptions.parse(train_end="2026-02-01", gap="2d"), orders)
    assert planned.labels_known_by == planned.test_start
    usable = planned.labels(orders)
    train, valid, test = (m.to_numpy() for m in planned.masks(orders["created_at"]))
    learned = (train | valid) & usable.notna().to_numpy()
    assert (orders["label_known_at"][learned] < planned.test_start).all()
    late = (train | valid) & (orders["label_known_at"] >= planned.test_start).to_numpy()
    assert late.sum() > 0 and usable[late].isna().all(), "late labels are left out, not legit"
    assert usable[test].notna().all(), "the test period is measured on labels as recorded"
    assert usable[~(train | valid | test)].isna().all(), "orders in the gap are used by no one"
    assert label_note(planned, orders).startswith(f"left out {int(late.sum())} of the ")


def test_a_gap_long_enough_for_every_label_leaves_none_out() -> None:
    orders = history(maturity_days=1.0)
    planned = plan_split(SplitOptions.parse(gap="2d"), orders)
    train, valid, test = planned.masks(orders["created_at"])
    assert planned.labels(orders).notna().sum() == (train | valid | test).sum()
    assert label_note(planned, orders) == (
        f"all {(train | valid).sum()} training and validation labels were known before the test "
        "start 2026-02-19 20:49"
    )


@pytest.mark.parametrize(
    ("text", "gap"),
    [("7", "7d"), ("7d", "7d"), ("36h", "36h"), ("2w", "14d"), ("1.5d", "36h"), ("0", "0d")],
)
def test_a_gap_is_days_hours_or_weeks(text: str, gap: str) -> None:
    assert gap_text(parse_gap(text)) == gap
