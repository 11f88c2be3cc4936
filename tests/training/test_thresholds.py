"""Cut points from a false-positive budget and a review capacity, on synthetic validation data."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from training.thresholds import (
    FP_BUDGET,
    REVIEW_CAPACITY,
    TRADEOFF_BUDGETS,
    Period,
    choose,
    choose_within,
    cut_for_budget,
    cut_for_capacity,
    tradeoffs,
)


def synthetic(seed: int = 3, honest: int = 20_000, fraud: int = 200, days: float = 10.0) -> Period:
    """Return a validation period: honest scores near 0, fraud scores near 1."""
    rng = np.random.default_rng(seed)
    scores = np.concatenate([rng.beta(1, 40, honest), rng.beta(5, 2, fraud)])
    labels = np.concatenate([np.zeros(honest, dtype=int), np.ones(fraud, dtype=int)])
    return Period(scores, labels, days)


def test_cases_per_day_counts_the_review_band_over_the_period_length() -> None:
    scores = np.array([0.95, 0.9, 0.6, 0.5, 0.5, 0.4, 0.1, 0.0])
    start, end = pd.Timestamp("2024-03-01", tz="UTC"), pd.Timestamp("2024-03-05", tz="UTC")
    period = Period.between(scores, np.zeros(8, dtype=int), start, end)
    assert period.days == 4.0
    assert period.orders_per_day() == 2.0
    # [0.5, 0.9): 0.6, 0.5, 0.5 open cases; 0.9 and above are declined, not reviewed.
    assert period.cases_per_day(0.5, 0.9) == 3 / 4
    assert period.cases_per_day(0.9, 0.9) == 0.0


def test_the_capacity_cut_admits_exactly_the_cases_that_fit() -> None:
    scores = np.array([0.99, 0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3])
    period = Period(scores, np.zeros(8, dtype=int), days=2.0)
    # 1.5 cases a day over 2 days: 3 cases below the critical cut of 0.95.
    cut = cut_for_capacity(period, 1.5, critical=0.95)
    assert cut == np.nextafter(0.6, 1.0)
    assert period.cases_per_day(cut, 0.95) == 1.5
    # A fraction of a case per period is not a case: 1.7 a day still means 3 cases.
    assert cut_for_capacity(period, 1.7, critical=0.95) == cut
    assert cut_for_capacity(period, 100.0, critical=0.95) == 0.0


def test_tied_scores_stay_out_together_rather_than_overflow_the_queue() -> None:
    scores = np.array([0.8, 0.7, 0.7, 0.7, 0.5])
    period = Period(scores, np.zeros(5, dtype=int), days=1.0)
    cut = cut_for_capacity(period, 2.0, critical=1.0)
    assert 0.7 < cut <= 0.8
    assert period.cases_per_day(cut, 1.0) == 1.0
    assert cut_for_capacity(period, 4.0, critical=1.0) == np.nextafter(0.5, 1.0)


def test_no_capacity_closes_the_review_band() -> None:
    valid = synthetic()
    choice = choose_within(valid, review_capacity=0.0)
    cuts = choice.thresholds
    assert choice.bound_by == REVIEW_CAPACITY
    assert cuts.high == cuts.critical
    assert cuts.high > valid.scores[valid.scores < cuts.critical].max()
    assert valid.cases_per_day(cuts.high, cuts.critical) == 0.0
    # Empty by construction, so no case is expected on any later period either.
    later = synthetic(seed=11)
    assert later.cases_per_day(cuts.high, cuts.critical) == 0.0
    # Fewer than one case over the whole period is no capacity either.
    assert choose_within(valid, review_capacity=0.05).thresholds == cuts


def test_a_small_review_team_raises_the_high_cut_above_the_budget() -> None:
    valid = synthetic()
    by_budget = choose(valid.scores, valid.labels)
    budget_cases = valid.cases_per_day(by_budget.high, by_budget.critical)
    capacity = budget_cases / 2
    choice = choose_within(valid, review_capacity=capacity)
    assert choice.bound_by == REVIEW_CAPACITY
    assert choice.thresholds.high > by_budget.high
    assert valid.cases_per_day(choice.thresholds.high, choice.thresholds.critical) <= capacity
    # Only high moves: decline and flag cut points stay where the budgets put them.
    assert choice.thresholds.critical == by_budget.critical
    assert choice.thresholds.medium == by_budget.medium
    honest_high = (valid.honest >= choice.thresholds.high).mean()
    assert honest_high <= (valid.honest >= by_budget.high).mean()


def test_a_large_review_team_leaves_the_budget_in_charge() -> None:
    valid = synthetic()
    by_budget = choose(valid.scores, valid.labels)
    budget_cases = valid.cases_per_day(by_budget.high, by_budget.critical)
    for capacity in (None, budget_cases, budget_cases * 3):
        choice = choose_within(valid, review_capacity=capacity)
        assert choice.bound_by == FP_BUDGET
        assert choice.thresholds == by_budget


def test_more_capacity_never_raises_the_cut_nor_overflows() -> None:
    valid = synthetic()
    critical = choose(valid.scores, valid.labels).critical
    capacities = [0.0, 0.1, 1.0, 3.3, 10.0, 25.0, 60.0, 250.0, 5000.0]
    cuts = [cut_for_capacity(valid, c, critical) for c in capacities]
    assert cuts == sorted(cuts, reverse=True)
    cases = [valid.cases_per_day(cut, critical) for cut in cuts]
    assert cases == sorted(cases)
    assert all(n <= c for n, c in zip(cases, capacities, strict=True))
    highs = [choose_within(valid, review_capacity=c).thresholds.high for c in capacities]
    assert highs == sorted(highs, reverse=True)


def test_the_tradeoff_table_shows_budgets_and_capacities_side_by_side() -> None:
    valid = synthetic()
    critical = choose(valid.scores, valid.labels).critical
    rows = tradeoffs(valid, critical, review_capacity=7.5)
    budgets = [row for row in rows if FP_BUDGET in row]
    capacities = [row for row in rows if REVIEW_CAPACITY in row]
    assert [row[FP_BUDGET] for row in budgets] == list(TRADEOFF_BUDGETS)
    assert 7.5 in [row[REVIEW_CAPACITY] for row in capacities]
    for row in budgets:
        assert row["threshold"] == cut_for_budget(valid.honest, row[FP_BUDGET])
        assert row["honest_flagged"] <= row[FP_BUDGET]
    for row in capacities:
        assert row["cases_per_day"] <= row[REVIEW_CAPACITY]
    for row in rows:
        assert row["cases_per_day"] == valid.cases_per_day(row["threshold"], critical)
    thresholds = [row["threshold"] for row in rows]
    assert thresholds == sorted(thresholds, reverse=True)
    recalls = [row["fraud_recall"] for row in rows]
    assert recalls == sorted(recalls)
    # Capacities beyond what the loosest budget opens are left out, unless asked for.
    assert all(row[REVIEW_CAPACITY] < budgets[-1]["cases_per_day"] for row in capacities)


def test_nonsense_is_refused() -> None:
    valid = synthetic()
    with pytest.raises(ValueError, match="at least 0"):
        cut_for_capacity(valid, -1.0, critical=1.0)
    with pytest.raises(ValueError, match="some time"):
        Period(valid.scores, valid.labels, 0.0)
