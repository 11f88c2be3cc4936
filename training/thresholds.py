"""Tier thresholds chosen on the validation period from a false-positive budget."""

from __future__ import annotations

import numpy as np

from models.scorer import Thresholds

# Shares of honest orders allowed at or above each tier's cut point.
MEDIUM_BUDGET = 0.05
CRITICAL_BUDGET = 0.001
DEFAULT_HIGH_BUDGET = 0.009
TRADEOFF_BUDGETS = (0.001, 0.0025, 0.005, 0.009, 0.01, 0.02, 0.05)


def cut_for_budget(honest_scores: np.ndarray, budget: float) -> float:
    """Return the lowest cut point that flags at most `budget` of honest orders."""
    ordered = np.sort(honest_scores)[::-1]
    allowed = int(np.floor(budget * len(ordered)))
    if allowed >= len(ordered):
        return 0.0
    # Strictly above the first honest score that must stay below the cut.
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


def tradeoffs(scores: np.ndarray, labels: np.ndarray) -> list[dict[str, float]]:
    """Return, per honest-order budget, the cut point and the fraud it catches (validation)."""
    honest, fraud = scores[labels == 0], scores[labels == 1]
    rows = []
    for budget in TRADEOFF_BUDGETS:
        cut = cut_for_budget(honest, budget)
        rows.append(
            {
                "fp_budget": budget,
                "threshold": cut,
                "honest_flagged": float((honest >= cut).mean()),
                "fraud_recall": float((fraud >= cut).mean()) if len(fraud) else float("nan"),
            }
        )
    return rows
