"""The operator's fail policy: how an order is decided when its entity features cannot be read.

When the online store is out, or answered that it lost its state, the order is
still decided within its deadline from what it carries itself (the request-time
features; every entity aggregate is missing) under one of three policies:

- `model`: the champion scores the request-time features and its degraded cut
  points (chosen on the validation period with the aggregates missing) set
  the tier. A model trained before those cut points existed falls back to `review`.
- `review`: the order is held for a reviewer with its stock frozen.
- `open`: the order is approved, and flagged for a later look.

The policy that decided, and the part that was missing, are kept with the
decision as a rule entry, so they are part of what the audit log commits to.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from models.scorer import Scorer, Thresholds, Tier

FailPolicy = Literal["open", "review", "model"]
RULE = "fail_policy"
TEXTS: dict[str, str] = {
    "model": "entity features unavailable ({part}): scored on the order's own features, "
    "with the cut points chosen for that input",
    "review": "entity features unavailable ({part}): held for review with stock frozen",
    "open": "entity features unavailable ({part}): approved, flagged for a later review",
}


@dataclass(frozen=True)
class Fallback:
    """What a fail policy decided for one order."""

    policy: FailPolicy
    tier: Tier
    approve: bool
    rule: dict[str, Any]


def fall_back(policy: FailPolicy, scorer: Scorer, score: float, part: str) -> Fallback:
    """Return the tier (and whether to approve regardless) under the fail policy."""
    cuts: Thresholds | None = scorer.card.degraded_thresholds
    if policy == "model" and cuts is None:
        policy = "review"
    scored = (cuts or scorer.card.thresholds).tier(score)
    tier = Tier.HIGH if policy == "review" else scored
    rule = {
        "rule": RULE,
        "policy": policy,
        "degraded": [part],
        "text": TEXTS[policy].format(part=part.replace("_", " ")),
    }
    return Fallback(policy, tier, approve=policy == "open", rule=rule)


def degraded_parts(rules: list[Any]) -> tuple[list[str], str | None]:
    """Return the degraded parts and the fail policy a stored decision's rules name."""
    for rule in rules:
        if isinstance(rule, dict) and rule.get("rule") == RULE:
            return list(rule.get("degraded", [])), rule.get("policy")
    return [], None
