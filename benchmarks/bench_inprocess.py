"""Our scoring path against the straightforward one, on the same model, data and machine.

The straightforward path is what a service built from the libraries' front
doors does for one order: Feast's `get_online_features` of the order's
entities (every online view's features), `booster.predict` of the order's
feature row, and `shap.TreeExplainer(booster).shap_values` of the same row,
the explainer built once. It runs here, in the benchmark's process, one order
at a time, on the orders the server just scored one at a time: their entities,
and the feature rows the server stored with their decisions.

Our path's read, score and explain come from the server's `Server-Timing`
header of those same orders. Without the header, score and explain are timed
here too (`Scorer.score` and `explain.contributions.explain` on the same rows)
and our read is not known.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from live_stream import LIVE_FILE
from load import Sample

from explain.contributions import explain
from features.columns import enrich
from features.currency import rates_for
from features.store import open_store
from models.registry import load_scorer
from models.scorer import Scorer
from service.persistence import decision_by_order, make_engine
from service.settings import ServiceSettings

STAGES = ("read", "score", "explain")
# Calls before timing: the first ones pay for lazy loading and caches.
WARMUP_CALLS = 20
SOURCE = (
    "in this process: Feast get_online_features, booster.predict (LightGBM's default threads),"
    " TreeExplainer.shap_values"
)


@dataclass(frozen=True)
class PathTimes:
    """Milliseconds per order of each stage one path has, and where they come from."""

    stages: dict[str, np.ndarray]
    source: str

    def whole(self) -> np.ndarray | None:
        """Return read + score + explain per order (what both paths do), None without a read."""
        parts = [self.stages[name] for name in STAGES if name in self.stages]
        return np.sum(parts, axis=0) if "read" in self.stages else None


@dataclass(frozen=True)
class Comparison:
    """Both paths over the same orders."""

    ours: PathTimes
    straightforward: PathTimes
    orders: int


def compare(
    settings: ServiceSettings, indices: range, samples: Sequence[Sample], stream_length: int
) -> Comparison:
    """Time the straightforward path on these orders; take ours from their samples."""
    scorer = load_scorer(settings)
    answered = [(i, s) for i, s in zip(indices, samples, strict=True) if s.ok and s.order_id]
    rows = feature_rows(settings, scorer, [s.order_id or "" for _, s in answered])
    entities = entity_rows(settings, [i % stream_length for i, _ in answered])
    straight = straightforward(settings, scorer, entities, rows)
    ours = from_server([s for _, s in answered]) or ours_in_process(scorer, rows)
    return Comparison(ours, straight, len(answered))


def feature_rows(settings: ServiceSettings, scorer: Scorer, order_ids: list[str]) -> np.ndarray:
    """Return the feature rows the server stored with these orders' decisions."""
    engine = make_engine(settings.db_url)
    try:
        stored = [decision_by_order(engine, order_id) for order_id in order_ids]
    finally:
        engine.dispose()
    names = scorer.card.features
    return np.array(
        [
            [np.nan if d is None or d.features.get(n) is None else d.features[n] for n in names]
            for d in stored
        ],
        dtype=float,
    )


def entity_rows(settings: ServiceSettings, live_rows: list[int]) -> list[dict[str, Any]]:
    """Return the Feast entity rows (join key to value) of these live-stream orders."""
    live = pd.read_parquet(settings.data_dir / LIVE_FILE)
    frame = enrich(live, rates_for(settings)).iloc[live_rows]
    views = [v for v in open_store(settings).list_feature_views() if v.online]
    keys = sorted({key for view in views for key in view.join_keys})
    missing = [key for key in keys if key not in frame.columns]
    if missing:
        raise KeyError(f"the live orders have no column for the join keys {missing}")
    # A missing key is read as an unknown entity, as an empty string finds no row.
    values = frame[keys].astype(object).where(frame[keys].notna(), "")
    return [
        {str(key): str(value) for key, value in row.items()} for row in values.to_dict("records")
    ]


def straightforward(
    settings: ServiceSettings, scorer: Scorer, entities: list[dict[str, Any]], rows: np.ndarray
) -> PathTimes:
    """Time Feast's online read, LightGBM's predict and SHAP's TreeExplainer, per order."""
    import shap

    store = open_store(settings)
    refs = [
        f"{view.name}:{feature.name}"
        for view in store.list_feature_views()
        if view.online
        for feature in view.features
    ]
    booster = scorer.booster
    explainer = shap.TreeExplainer(booster)

    def read(i: int) -> object:
        # Every state view has a feature named `state`: full names keep them apart.
        answer = store.get_online_features(
            features=refs, entity_rows=[entities[i]], full_feature_names=True
        )
        return answer.to_dict()

    stages = {
        "read": read,
        "score": lambda i: booster.predict(rows[i : i + 1]),
        "explain": lambda i: explainer.shap_values(rows[i : i + 1]),
    }
    timed = per_order(stages, len(rows))
    return PathTimes(timed, SOURCE)


def ours_in_process(scorer: Scorer, rows: np.ndarray) -> PathTimes:
    """Time our score and explanation of each row here (the read is the server's alone)."""
    stages = {
        "score": lambda i: scorer.score(rows[i : i + 1]),
        "explain": lambda i: explain(scorer.booster, rows[i : i + 1]),
    }
    return PathTimes(per_order(stages, len(rows)), "in this process (no Server-Timing header)")


def per_order(stages: dict[str, Callable[[int], object]], count: int) -> dict[str, np.ndarray]:
    """Run each stage on each order in turn; return each stage's milliseconds per order."""
    for i in range(min(WARMUP_CALLS, count)):
        for call in stages.values():
            call(i)
    timings = {name: np.empty(count) for name in stages}
    for i in range(count):
        for name, call in stages.items():
            started = time.perf_counter()
            call(i)
            timings[name][i] = (time.perf_counter() - started) * 1000
    return timings


def from_server(samples: Sequence[Sample]) -> PathTimes | None:
    """Return our stages from the answers' `Server-Timing`, None if none of them has one."""
    named = [dict(s.stages) for s in samples]
    if not any(named):
        return None
    stages = {
        name: np.array([d.get(name, np.nan) for d in named], dtype=float)
        for name in STAGES
        if any(name in d for d in named)
    }
    return PathTimes(stages, "the server's Server-Timing of the same orders")
