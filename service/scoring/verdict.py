"""What one order's features and SHAP values decide: score, tier, action, stock freeze, reasons.

One function for every path that decides an order (the API's `ScoringService`
and `score-batch`), so both give the same answer for the same vector.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from explain.reasons import TOP_REASONS, Reason, top_reasons
from models.scorer import ACTIONS, FREEZES_STOCK, Action, Scorer, Tier
from service.scoring.fail_policy import FailPolicy, fall_back

FREEZE_REASONS = {
    Tier.HIGH: "high risk: stock held until a reviewer decides",
    Tier.CRITICAL: "critical risk: order declined, stock not allocated",
}


def reviewed_tiers(review_critical: bool) -> frozenset[Tier]:
    """Return the tiers sent to review (`ORDERSHIELD_REVIEW_CRITICAL` adds critical)."""
    return frozenset({Tier.HIGH, Tier.CRITICAL} if review_critical else {Tier.HIGH})


@dataclass(frozen=True)
class Verdict:
    """One order's decision, before it is stored."""

    score: float
    raw_score: float
    tier: Tier
    action: Action
    freeze: bool
    freeze_reason: str | None
    reasons: list[Reason]
    rules: list[dict[str, Any]]


def judge(
    scorer: Scorer,
    row: np.ndarray,
    contributions: np.ndarray,
    base: float,
    reviewed: frozenset[Tier],
    fail_policy: FailPolicy,
    degraded_part: str | None = None,
    reasons: int = TOP_REASONS,
) -> Verdict:
    """Return the decision for one feature vector and its exact SHAP contributions.

    The score is taken from the SHAP pass (contributions plus base value are the
    raw score), not from running the trees again.
    """
    raw_score = float(contributions.sum() + base)
    score = float(scorer.probability(np.array([raw_score]))[0])
    tier = scorer.card.thresholds.tier(score)
    rules: list[dict[str, Any]] = []
    approve = False
    if degraded_part is not None:
        fallback = fall_back(fail_policy, scorer, score, degraded_part)
        tier, rules, approve = fallback.tier, [fallback.rule], fallback.approve
    action = Action.REVIEW if tier in reviewed else ACTIONS[tier]
    if approve:
        action = Action.APPROVE
    freeze = tier in FREEZES_STOCK and action is not Action.APPROVE
    freeze_reason = FREEZE_REASONS[Tier.HIGH if tier in reviewed else tier] if freeze else None
    top = top_reasons(scorer.card.features, row, contributions, reasons)
    return Verdict(score, raw_score, tier, action, freeze, freeze_reason, top, rules)
