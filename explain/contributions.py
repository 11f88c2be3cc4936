"""Exact per-decision SHAP values.

The values are exact TreeSHAP (Lundberg et al.), the same as LightGBM's
`pred_contrib` (tested to 1e-9 on every value): the contributions plus the
base value add up to the raw log-odds score. `explain/treeshap.py` computes
them from tables built once per booster, so one order costs microseconds
rather than the booster's recursion over every tree.
"""

from __future__ import annotations

import threading
import time
import weakref
from dataclasses import dataclass

import lightgbm as lgb
import numpy as np

from explain.treeshap import TreeShap


@dataclass(frozen=True)
class Explanation:
    """SHAP contributions in log-odds per row and feature, and the base value."""

    values: np.ndarray
    base: np.ndarray


# A booster's tables live as long as the booster: a reloaded model gets its own.
# A booster is not changed after it is first explained (trained further, say).
_EXPLAINERS: weakref.WeakKeyDictionary[lgb.Booster, TreeShap] = weakref.WeakKeyDictionary()
_BUILDING = threading.Lock()


def explainer(booster: lgb.Booster) -> TreeShap:
    """Return the booster's exact TreeSHAP, building its tables on first use."""
    found = _EXPLAINERS.get(booster)
    if found is None:
        # One build per booster, even when several threads ask for it at once.
        with _BUILDING:
            found = _EXPLAINERS.get(booster)
            if found is None:
                found = _EXPLAINERS[booster] = TreeShap(booster)
    return found


def explain(booster: lgb.Booster, matrix: np.ndarray) -> Explanation:
    """Return exact TreeSHAP contributions for every row of a feature matrix."""
    raw = explainer(booster).contributions(matrix)
    return Explanation(values=raw[:, :-1], base=raw[:, -1])


def explanation_cost_ms(booster: lgb.Booster, matrix: np.ndarray, repeats: int = 200) -> float:
    """Return the median time of one single-order exact explanation, in milliseconds."""
    rows = matrix[np.arange(repeats) % len(matrix)]
    explainer(booster)
    timings = []
    for row in rows:
        start = time.perf_counter()
        explain(booster, row[None, :])
        timings.append(time.perf_counter() - start)
    return float(np.median(timings) * 1000)
