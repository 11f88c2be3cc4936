"""Replay a stored decision on its archived model, and find what would have let it through.

Replay feeds the stored feature vector, in the archived model's own feature
order (None as NaN), to the version that decided, loaded as registered, and
recomputes the decision as the scoring path does: exact TreeSHAP, raw score as
base value plus contributions, probability, and tier under the thresholds
stored with the decision. Each quantity reproduces only if it is equal, bit for
bit: a decision is evidence, and "close" is a difference worth showing.
"""

from __future__ import annotations

import math
import threading
from collections import OrderedDict
from collections.abc import Collection, Mapping
from dataclasses import dataclass

import numpy as np

from explain.contributions import explain
from explain.counterfactual import Counterfactual, find_counterfactual
from models.registry import load_version
from models.scorer import Scorer, Thresholds
from service.persistence.records import DecisionRecord
from service.settings import ServiceSettings

CACHED_VERSIONS = 4
FROZEN_TIERS = ("high", "critical")
_cache: OrderedDict[tuple[str, str, str], Scorer] = OrderedDict()
_cache_lock = threading.Lock()


def archived_model(settings: ServiceSettings, name: str, version: str) -> Scorer:
    """Return an archived model version, keeping the few most recently used loaded."""
    key = (settings.tracking_uri, name, version)
    with _cache_lock:
        if key in _cache:
            _cache.move_to_end(key)
            return _cache[key]
    scorer = load_version(settings.model_copy(update={"model_name": name}), version)
    with _cache_lock:
        _cache[key] = scorer
        while len(_cache) > CACHED_VERSIONS:
            _cache.popitem(last=False)
    return scorer


@dataclass(frozen=True)
class Quantity:
    """One recomputed quantity next to its stored value; `difference` is replayed - stored."""

    name: str
    stored: float | str
    replayed: float | str
    exact: bool
    difference: float | None


@dataclass(frozen=True)
class Replay:
    """What replaying one decision on its archived model gave."""

    order_id: str
    model_name: str
    model_version: str
    quantities: tuple[Quantity, ...]
    shap: tuple[Quantity, ...]
    missing: tuple[str, ...]

    @property
    def differing(self) -> tuple[Quantity, ...]:
        """Return every quantity and SHAP value that did not reproduce."""
        return tuple(q for q in (*self.quantities, *self.shap) if not q.exact)

    @property
    def exact(self) -> bool:
        """Return whether everything reproduced exactly."""
        return not self.differing and not self.missing


def stored_row(record: DecisionRecord, names: list[str]) -> np.ndarray:
    """Return the stored feature vector in `names` order, missing values as NaN."""
    values = [record.features.get(name) for name in names]
    return np.array([[math.nan if v is None else float(v) for v in values]], dtype=float)


def _number(name: str, stored: float, replayed: float) -> Quantity:
    exact = stored == replayed or (math.isnan(stored) and math.isnan(replayed))
    return Quantity(name, stored, replayed, exact, None if exact else replayed - stored)


def _label(name: str, stored: str, replayed: str) -> Quantity:
    return Quantity(name, stored, replayed, stored == replayed, None)


def replay(settings: ServiceSettings, record: DecisionRecord) -> Replay:
    """Re-score a stored decision on the archived version and compare every quantity."""
    scorer = archived_model(settings, record.model_name, record.model_version)
    names = list(scorer.card.features)
    matrix = stored_row(record, names)
    explanation = explain(scorer.booster, matrix)
    raw = float(explanation.values[0].sum() + explanation.base[0])
    score = float(scorer.probability(np.array([raw]))[0])
    tier = _tier(record.thresholds, score)
    quantities = (
        _number("raw score", record.raw_score, raw),
        _number("score", record.score, score),
        _label("tier", record.tier, tier),
        _number("base value", record.base_value, float(explanation.base[0])),
    )
    shap = tuple(
        _number(name, float(record.shap_values.get(name, math.nan)), float(value))
        for name, value in zip(names, explanation.values[0], strict=True)
    )
    missing = tuple(name for name in names if name not in record.features)
    return Replay(
        record.order_id, record.model_name, record.model_version, quantities, shap, missing
    )


def _tier(thresholds: Mapping[str, float], score: float) -> str:
    """Return the tier under the stored thresholds, or why there is none."""
    try:
        cuts = Thresholds(*(float(thresholds[k]) for k in ("medium", "high", "critical")))
    except (KeyError, TypeError, ValueError) as error:
        return f"no tier: the stored thresholds cannot be read ({error})"
    return cuts.tier(score).value


@dataclass(frozen=True)
class Outcome:
    """A counterfactual of a frozen or declined decision, checked on the archived model."""

    counterfactual: Counterfactual | None
    cut: float
    score: float
    checked_score: float | None
    note: str


def counterfactual(
    settings: ServiceSettings, record: DecisionRecord, fixed: Collection[str] = ()
) -> Outcome:
    """Return the smallest change of the stored vector that scores below the high cut.

    Features in `fixed` (those the viewer may not see) are never changed. The
    change found is applied to the stored vector and scored again here.
    """
    cut = float(record.thresholds.get("high", math.nan))
    if record.tier not in FROZEN_TIERS:
        note = f"the order was {record.tier} risk and not frozen: there is nothing to undo"
        return Outcome(None, cut, record.score, None, note)
    scorer = archived_model(settings, record.model_name, record.model_version)
    names = list(scorer.card.features)
    row = stored_row(record, names)[0]
    found = find_counterfactual(scorer.booster, names, row, cut, fixed=fixed)
    if found is None:
        note = "no change of one or two features brings the score below the high cut point"
        return Outcome(None, cut, record.score, None, note)
    changed = row.copy()
    for change in found.changes:
        changed[names.index(change.feature)] = (
            math.nan if change.becomes is None else change.becomes
        )
    checked = float(scorer.score(changed[None, :])[0])
    return Outcome(found, cut, record.score, checked, found.text)
