"""Tier thresholds chosen on the validation period from a false-positive budget and review capacity.

The `high` cut point opens a review case for every order in [high, critical), so
it must fit two things: the share of honest orders the shop accepts to bother
(`fp_budget`) and, optionally, the cases per day its reviewers can work
(`review_capacity`). Each gives the lowest cut point that satisfies it; the higher
of the two wins. Only validation scores choose; the test period is only reported.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from models.scorer import Thresholds

# Shares of honest orders allowed at or above each tier's cut point.
MEDIUM_BUDGET = 0.05
CRITICAL_BUDGET = 0.001
DEFAULT_HIGH_BUDGET = 0.009
TRADEOFF_BUDGETS = (0.001, 0.0025, 0.005, 0.009, 0.01, 0.02, 0.05)
# Review capacities (cases per day) shown beside the budgets, where they bite.
TRADEOFF_CAPACITIES = (1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0, 200.0, 500.0, 1000.0)

FP_BUDGET = "fp_budget"
REVIEW_CAPACITY = "review_capacity"


@dataclass(frozen=True)
class Period:
    """One period's scores and labels, and the period's length in days."""

    scores: np.ndarray
    labels: np.ndarray
    days: float

    def __post_init__(self) -> None:
        if len(self.scores) != len(self.labels):
            raise ValueError("scores and labels must have one entry per order")
        if not self.days > 0:
            raise ValueError(f"a period must last some time, not {self.days} days")

    @classmethod
    def between(
        cls, scores: np.ndarray, labels: np.ndarray, start: pd.Timestamp, end: pd.Timestamp
    ) -> Period:
        """Return the period [start, end) holding these orders."""
        return cls(scores, labels, (end - start) / pd.Timedelta(days=1))

    @property
    def honest(self) -> np.ndarray:
        """Return the honest orders' scores."""
        return np.asarray(self.scores[self.labels == 0])

    @property
    def fraud(self) -> np.ndarray:
        """Return the fraudulent orders' scores."""
        return np.asarray(self.scores[self.labels == 1])

    def orders_per_day(self) -> float:
        """Return the period's own daily order volume."""
        return len(self.scores) / self.days

    def cases_per_day(self, high: float, critical: float) -> float:
        """Return the orders per day scoring in [high, critical): the review cases opened."""
        opened = (self.scores >= high) & (self.scores < critical)
        return float(opened.sum()) / self.days


@dataclass(frozen=True)
class Choice:
    """The chosen cut points and the constraint that set the `high` one."""

    thresholds: Thresholds
    bound_by: str


def cut_for_budget(honest_scores: np.ndarray, budget: float) -> float:
    """Return the lowest cut point that flags at most `budget` of honest orders."""
    ordered = np.sort(honest_scores)[::-1]
    allowed = int(np.floor(budget * len(ordered)))
    if allowed >= len(ordered):
        return 0.0
    # Strictly above the first honest score that must stay below the cut.
    return float(np.nextafter(ordered[allowed], 1.0))


def cut_for_capacity(period: Period, capacity: float, critical: float) -> float:
    """Return the lowest `high` cut point whose cases per day in [high, critical) fit `capacity`."""
    if not capacity >= 0:
        raise ValueError(f"review capacity must be at least 0 cases per day, not {capacity}")
    # Rounded down: a fraction of a case per period cannot be worked.
    allowed = int(np.floor(capacity * period.days))
    if allowed == 0:
        return critical  # not one case fits: close the review band
    ordered = np.sort(period.scores[period.scores < critical])[::-1]
    if allowed >= len(ordered):
        return 0.0
    # Strictly above the first score that must stay out; ties stay out together.
    return float(np.nextafter(ordered[allowed], 1.0))


def choose(
    scores: np.ndarray, labels: np.ndarray, high_budget: float = DEFAULT_HIGH_BUDGET
) -> Thresholds:
    """Return tier cut points from validation scores and labels."""
    honest = scores[labels == 0]
    critical = cut_for_budget(honest, min(CRITICAL_BUDGET, high_budget))
    high = min(cut_for_budget(honest, high_budget), critical)
    medium = min(cut_for_budget(honest, max(MEDIUM_BUDGET, high_budget)), high)
    return Thresholds(medium=medium, high=high, critical=critical)


def choose_within(
    valid: Period,
    high_budget: float = DEFAULT_HIGH_BUDGET,
    review_capacity: float | None = None,
) -> Choice:
    """Return validation cut points whose `high` fits the budget and, if given, the capacity."""
    by_budget = choose(valid.scores, valid.labels, high_budget)
    if review_capacity is None:
        return Choice(by_budget, FP_BUDGET)
    high = cut_for_capacity(valid, review_capacity, by_budget.critical)
    if high <= by_budget.high:
        return Choice(by_budget, FP_BUDGET)
    return Choice(replace(by_budget, high=high), REVIEW_CAPACITY)


def operating_point(period: Period, high: float, critical: float) -> dict[str, float]:
    """Return a `high` cut point's honest share, fraud recall and cases per day on a period."""
    fraud = period.fraud
    return {
        "threshold": high,
        "honest_flagged": float((period.honest >= high).mean()),
        "fraud_recall": float((fraud >= high).mean()) if len(fraud) else float("nan"),
        "cases_per_day": period.cases_per_day(high, critical),
    }


def tradeoffs(
    valid: Period, critical: float, review_capacity: float | None = None
) -> list[dict[str, float]]:
    """Return candidate `high` cut points per budget and per capacity, strictest first."""
    cuts = [(FP_BUDGET, b, cut_for_budget(valid.honest, b)) for b in TRADEOFF_BUDGETS]
    # Capacities beyond what the loosest budget opens say nothing the budgets do not.
    loosest = valid.cases_per_day(cuts[-1][2], critical)
    capacities = {c for c in TRADEOFF_CAPACITIES if c < loosest}
    if review_capacity is not None:
        capacities.add(float(review_capacity))
    cuts += [(REVIEW_CAPACITY, c, cut_for_capacity(valid, c, critical)) for c in sorted(capacities)]
    rows = [{name: value, **operating_point(valid, cut, critical)} for name, value, cut in cuts]
    # Stable: budget rows keep their order, a capacity row follows a budget row it ties with.
    return sorted(rows, key=lambda row: -row["threshold"])
