"""Reason codes: the features that pushed one decision's score up, in plain words."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from features.catalog import current
from features.spec import Agg, Aggregate

TOP_REASONS = 5


@dataclass(frozen=True)
class Reason:
    """One feature's part in a decision: its value, SHAP contribution (log-odds) and text."""

    feature: str
    value: float | None
    contribution: float
    text: str


def describe(name: str, value: float) -> str:
    """Return the human sentence for a feature's value."""
    feature = current().by_name[name]
    if math.isnan(value):
        if isinstance(feature, Aggregate):
            if feature.agg in (Agg.HOURS_SINCE_FIRST, Agg.HOURS_SINCE_LAST):
                return f"no earlier activity of this {feature.entity.name.replace('_', ' ')}"
            return f"no data on this order's {feature.entity.name.replace('_', ' ')}"
        return f"{name.replace('_', ' ')} is unknown"
    if not isinstance(feature, Aggregate) and feature.text_when_false and value == 0:
        return feature.text_when_false
    return feature.text.format(value=value)


def top_reasons(
    names: Sequence[str], values: np.ndarray, contributions: np.ndarray, limit: int = TOP_REASONS
) -> list[Reason]:
    """Return the features that raised the score most, largest contribution first."""
    order = np.argsort(-contributions)
    reasons = []
    for j in order[:limit]:
        if contributions[j] <= 0:
            break
        value = float(values[j])
        reasons.append(
            Reason(
                names[j],
                None if math.isnan(value) else value,
                float(contributions[j]),
                describe(names[j], value),
            )
        )
    return reasons
