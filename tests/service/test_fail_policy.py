"""The fail policy decides an order whose entity features could not be read."""

from __future__ import annotations

from typing import Any, cast

import lightgbm as lgb
import pytest

from models.scorer import ModelCard, Scorer, Thresholds, Tier
from service.scoring.fail_policy import degraded_parts, fall_back

NORMAL = Thresholds(0.3, 0.6, 0.9)
DEGRADED = Thresholds(0.1, 0.2, 0.5)


def scorer(degraded: Thresholds | None) -> Scorer:
    card = ModelCard(["f"], NORMAL, "spec", degraded_thresholds=degraded)
    return Scorer(cast(lgb.Booster, None), card)


@pytest.mark.parametrize(
    ("policy", "cuts", "score", "expected"),
    [
        # model: the degraded cut points, not the normal ones (0.25 is low under those).
        ("model", DEGRADED, 0.25, ("model", Tier.HIGH, False)),
        ("model", DEGRADED, 0.05, ("model", Tier.LOW, False)),
        # a model without degraded cut points cannot be trusted on that input: hold it.
        ("model", None, 0.05, ("review", Tier.HIGH, False)),
        ("review", DEGRADED, 0.01, ("review", Tier.HIGH, False)),
        ("open", DEGRADED, 0.7, ("open", Tier.CRITICAL, True)),
    ],
)
def test_each_policy(policy: Any, cuts: Thresholds | None, score: float, expected: Any) -> None:
    fallback = fall_back(policy, scorer(cuts), score, "online_store")
    assert (fallback.policy, fallback.tier, fallback.approve) == expected
    assert degraded_parts([{"rule": "other"}, fallback.rule]) == (["online_store"], expected[0])


def test_a_decision_without_the_rule_names_no_part() -> None:
    assert degraded_parts([]) == ([], None)
