"""Out-of-time folds: their windows, the labels they may learn from, and option errors."""

from __future__ import annotations

from itertools import pairwise

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from training.protocol import (
    DAY,
    Plan,
    ProtocolError,
    labels_known_before,
    parse_moment,
    plan_folds,
)

T0 = pd.Timestamp("2026-01-01", tz="UTC")


def utc(text: str) -> pd.Timestamp:
    return pd.Timestamp(text, tz="UTC")


def history(days: int = 100, per_day: int = 4, maturity_days: float = 10.0) -> pd.DataFrame:
    """Return orders every few hours over `days` days; every 4th is fraud, known after a delay."""
    n = days * per_day
    created = T0 + pd.to_timedelta(np.arange(n) * 24 / per_day, unit="h")
    label = (np.arange(n) % 4 == 0).astype(int)
    return pd.DataFrame(
        {
            "created_at": created,
            "label": pd.array(label, dtype="Int8"),
            "label_known_at": created + pd.Timedelta(days=maturity_days),
            "fraud_known_at": pd.Series(pd.NaT, index=range(n), dtype="datetime64[ms, UTC]"),
        }
    )


plans = st.builds(
    Plan,
    train_days=st.integers(1, 90),
    gap_days=st.integers(0, 90),
    test_days=st.integers(1, 30),
    folds=st.integers(1, 8),
    step_days=st.none() | st.integers(30, 60),
)


@given(plan=plans, offset_hours=st.integers(0, 24 * 365))
def test_folds_never_overlap_their_gap(plan: Plan, offset_hours: int) -> None:
    folds = plan.windows(T0 + pd.Timedelta(hours=offset_hours))
    assert len(folds) == plan.folds
    for fold in folds:
        assert fold.train_start < fold.train_end <= fold.test_start < fold.test_end
        assert fold.gap == plan.gap_days * DAY
        assert fold.train_end - fold.train_start == plan.train_days * DAY
        assert fold.test_end - fold.test_start == plan.test_days * DAY
    for earlier, later in pairwise(folds):
        assert later.train_start - earlier.train_start == plan.step * DAY
        assert earlier.test_end <= later.test_start, "test windows never share an order"


moments = st.integers(0, 200).map(lambda hours: T0 + pd.Timedelta(hours=hours))
orders_rows = st.lists(
    st.tuples(
        st.integers(0, 100),  # created, hours after T0
        st.sampled_from([None, 0, 1]),  # final label
        st.integers(0, 100),  # label delay, hours
        st.none() | st.integers(0, 100),  # a withdrawn fraud label's delay, hours
    ),
    min_size=1,
    max_size=30,
)


@settings(max_examples=200)
@given(rows=orders_rows, moment=moments)
def test_no_label_known_at_or_after_the_moment_is_used(
    rows: list[tuple[int, int | None, int, int | None]], moment: pd.Timestamp
) -> None:
    created = [T0 + pd.Timedelta(hours=c) for c, *_ in rows]
    labels = [label for _, label, _, _ in rows]
    known = [
        c + pd.Timedelta(hours=d) if lab is not None else pd.NaT
        for c, (_, lab, d, _) in zip(created, rows, strict=True)
    ]
    withdrawn = [
        c + pd.Timedelta(hours=min(w, d)) if lab == 0 and w is not None else pd.NaT
        for c, (_, lab, d, w) in zip(created, rows, strict=True)
    ]
    orders = pd.DataFrame(
        {
            "created_at": pd.Series(created, dtype="datetime64[ms, UTC]"),
            "label": pd.array(labels, dtype="Int8"),
            "label_known_at": pd.Series(known, dtype="datetime64[ms, UTC]"),
            "fraud_known_at": pd.Series(withdrawn, dtype="datetime64[ms, UTC]"),
        }
    )
    seen = labels_known_before(orders, moment)
    for label, known_at, final, final_known, flagged in zip(
        seen["label"], seen["known_at"], labels, known, withdrawn, strict=True
    ):
        if pd.isna(label):
            # Unknown stays unknown: never taken for legitimate.
            assert not final_known < moment
            assert not flagged < moment
            continue
        assert known_at < moment
        if final_known < moment:
            assert label == final and known_at == final_known
        else:
            # A fraud label later withdrawn: fraud is what was known before the withdrawal.
            assert label == 1 and known_at == flagged


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-03-01", utc("2026-03-01")),
        ("2026-03-01T08:30Z", utc("2026-03-01 08:30")),
        ("2026-03-01T08:30:15+01:00", utc("2026-03-01 07:30:15")),
        ("2026-03-01 08:30-0500", utc("2026-03-01 13:30")),
    ],
)
def test_iso_dates_are_read_as_utc(text: str, expected: pd.Timestamp) -> None:
    assert parse_moment(text, "start") == expected


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("25/07/2018", "expected an ISO 8601 date such as 2026-03-01"),
        ("07/25/2018", "expected an ISO 8601 date"),
        ("2018-07-25T10:00", "no time zone, so it is ambiguous"),
        ("2018-02-30", "not a calendar date"),
        ("2018-07-25T25:00Z", "not a valid date and time"),
        ("2018-07-25T10:00 CET", "expected an ISO 8601 date"),
        ("next monday", "expected an ISO 8601 date"),
    ],
)
def test_other_dates_are_refused_with_the_format_expected(text: str, says: str) -> None:
    with pytest.raises(ProtocolError, match=says) as raised:
        parse_moment(text, "start")
    assert raised.value.option == "start"


@pytest.mark.parametrize(
    ("plan", "option", "says"),
    [
        (Plan(gap_days=-1), "gap_days", "must be 0 or more days"),
        (Plan(test_days=0), "test_days", "at least 1"),
        (Plan(folds=0), "folds", "at least 1"),
        (Plan(test_days=7, step_days=3), "step_days", "test windows would overlap"),
    ],
)
def test_impossible_options_name_the_option(plan: Plan, option: str, says: str) -> None:
    with pytest.raises(ProtocolError, match=says) as raised:
        plan.check()
    assert raised.value.option == option


def test_folds_start_on_the_data_s_first_day_by_default() -> None:
    folds = plan_folds(Plan(train_days=20, gap_days=10, test_days=7, folds=3), history())
    assert [f.train_start for f in folds] == [T0, T0 + 7 * DAY, T0 + 14 * DAY]
    assert folds[-1].test_end == T0 + (14 + 37) * DAY


@pytest.mark.parametrize(
    ("plan", "option", "says"),
    [
        (Plan(start=utc("2025-12-01")), "start", "outside the data"),
        (Plan(start=utc("2026-06-01")), "start", "outside the data"),
        (Plan(train_days=20, gap_days=10, test_days=7, folds=12), "folds", "use fewer folds"),
        (Plan(train_days=90, gap_days=10, test_days=7, folds=1), "train_days", "data covers"),
    ],
)
def test_plans_the_data_cannot_hold_are_refused(plan: Plan, option: str, says: str) -> None:
    with pytest.raises(ProtocolError, match=says) as raised:
        plan_folds(plan, history(maturity_days=10))
    assert raised.value.option == option


def test_a_training_window_without_a_known_label_is_refused() -> None:
    orders = history(maturity_days=50)
    with pytest.raises(ProtocolError, match="none of the 80 orders") as raised:
        plan_folds(Plan(train_days=20, gap_days=10, test_days=7, folds=1), orders)
    assert raised.value.option == "gap_days"


def test_a_training_window_without_known_fraud_is_refused() -> None:
    orders = history()
    orders.loc[orders["created_at"] < T0 + 20 * DAY, "label"] = 0
    with pytest.raises(ProtocolError, match="0 fraud label") as raised:
        plan_folds(Plan(train_days=20, gap_days=10, test_days=7, folds=1), orders)
    assert raised.value.option == "gap_days"


def test_an_empty_test_window_is_refused() -> None:
    orders = history()
    quiet = (orders["created_at"] >= T0 + 30 * DAY) & (orders["created_at"] < T0 + 37 * DAY)
    with pytest.raises(ProtocolError, match="holds no orders") as raised:
        plan_folds(Plan(train_days=20, gap_days=10, test_days=7, folds=1), orders[~quiet])
    assert raised.value.option == "test_days"


def test_a_test_window_without_fraud_is_refused() -> None:
    orders = history()
    orders.loc[orders["created_at"] >= T0 + 30 * DAY, "label"] = 0
    with pytest.raises(ProtocolError, match="no fraud label among its 28 orders"):
        plan_folds(Plan(train_days=20, gap_days=10, test_days=7, folds=1), orders)


def test_a_history_without_labels_is_refused() -> None:
    orders = history()
    orders["label"] = pd.array([pd.NA] * len(orders), dtype="Int8")
    with pytest.raises(ProtocolError, match="the data has no labels") as raised:
        plan_folds(Plan(train_days=20, gap_days=10, test_days=7, folds=1), orders)
    assert raised.value.option == "mapping"
