"""The scorer: a LightGBM booster with its feature order and tier thresholds.

Everything the service needs to turn a feature vector into a decision travels
with the model: feature order, thresholds and the hash of the feature spec it
was trained on.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any

import lightgbm as lgb
import numpy as np


class Tier(StrEnum):
    """Risk tiers, from the least to the most risky."""

    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"


class Action(StrEnum):
    """What the order system should do with the order."""

    APPROVE = "approve"
    REVIEW = "review"
    DECLINE = "decline"


# Tier policy: high orders wait for a reviewer with their stock frozen, critical
# ones are declined outright, medium ones pass with a flag.
ACTIONS: dict[Tier, Action] = {
    Tier.LOW: Action.APPROVE,
    Tier.MEDIUM: Action.APPROVE,
    Tier.HIGH: Action.REVIEW,
    Tier.CRITICAL: Action.DECLINE,
}
FREEZES_STOCK: frozenset[Tier] = frozenset({Tier.HIGH, Tier.CRITICAL})


@dataclass(frozen=True)
class Thresholds:
    """Score cut points: a score at or above a cut point is in that tier (or higher)."""

    medium: float
    high: float
    critical: float

    def __post_init__(self) -> None:
        if not 0.0 <= self.medium <= self.high <= self.critical <= 1.0:
            raise ValueError(f"thresholds must rise within [0, 1]: {self}")

    def tier(self, score: float) -> Tier:
        """Return the tier of one score."""
        if score >= self.critical:
            return Tier.CRITICAL
        if score >= self.high:
            return Tier.HIGH
        if score >= self.medium:
            return Tier.MEDIUM
        return Tier.LOW


@dataclass(frozen=True)
class ModelCard:
    """What travels with the booster: feature order, thresholds, spec hash, trade-offs.

    `degraded_thresholds` are cut points for the same booster when the entity
    features could not be read (all missing), chosen on the validation period
    with them missing: the scores of that input sit elsewhere, so the normal cut
    points would not hold the same false-positive budget. None for models
    trained before they existed. `protocol` is the out-of-time split the model was
    trained and measured on (train, valid and test periods, gap, which labels it
    learned from); `dropped_features` names each catalogue feature the training
    data could not support, with the fields it lacked. Both are empty on older cards.
    """

    features: list[str]
    thresholds: Thresholds
    spec_hash: str
    tradeoffs: list[dict[str, float]] = field(default_factory=list)
    degraded_thresholds: Thresholds | None = None
    protocol: dict[str, str] = field(default_factory=dict)
    dropped_features: dict[str, list[str]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """Return the card as plain data for the model's metadata."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelCard:
        """Read a card back from the model's metadata."""
        degraded = data.get("degraded_thresholds")
        return cls(
            list(data["features"]),
            Thresholds(**data["thresholds"]),
            str(data["spec_hash"]),
            list(data.get("tradeoffs", [])),
            None if degraded is None else Thresholds(**degraded),
            dict(data.get("protocol", {})),
            {name: list(fields) for name, fields in data.get("dropped_features", {}).items()},
        )


class SpecMismatchError(RuntimeError):
    """Raised when a model was trained on another feature spec than the running one."""


@dataclass(frozen=True)
class Scorer:
    """A loaded model: scores feature matrices and turns scores into decisions."""

    booster: lgb.Booster
    card: ModelCard
    name: str = "ordershield"
    version: str = "local"

    def check_spec(self, running_spec_hash: str) -> None:
        """Refuse to serve a model trained on another feature spec."""
        if self.card.spec_hash != running_spec_hash:
            raise SpecMismatchError(
                f"model {self.name} v{self.version} was trained on feature spec "
                f"{self.card.spec_hash}, "
                f"but this OrderShield runs spec {running_spec_hash}: retrain it "
                "(`ordershield train`) or run the OrderShield release it was trained with"
            )

    def score(self, matrix: np.ndarray) -> np.ndarray:
        """Return fraud probabilities for rows laid out in the card's feature order."""
        return np.asarray(self.booster.predict(matrix, num_threads=1), dtype=float)

    @staticmethod
    def probability(raw: np.ndarray) -> np.ndarray:
        """Return fraud probabilities from log-odds (the binary objective's logistic link).

        Lets the scoring path take the score from the SHAP pass (contributions plus
        base value are the raw score) instead of running the trees a second time.
        """
        return np.asarray(1.0 / (1.0 + np.exp(-np.asarray(raw, dtype=float))))

    def raw_score(self, matrix: np.ndarray) -> np.ndarray:
        """Return log-odds scores."""
        return np.asarray(self.booster.predict(matrix, raw_score=True, num_threads=1), dtype=float)
