"""Run the out-of-time protocol: LightGBM and a logistic-regression baseline, fold by fold.

Features are point-in-time (an order's value counts only events, labels included, known
before the order), so they are computed once over the whole history by the same offline
code the Feast sources are built from. What changes per fold is which labels exist: a
fold learns, stops early and sets its cut point only from labels known before its test
window starts; orders whose label was not known then are left out, never taken as legit.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pandas as pd
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler

from features.build import computable
from features.columns import enrich, to_columns
from features.offline import point_in_time
from training.dataset import TrainingFrame, frame_of, model_features
from training.protocol import Fold, Plan, ProtocolError, fraud_at, fraud_flags, labels_known_before
from training.ranking import pr_points, spread, window_metrics
from training.thresholds import choose
from training.train import PARAMS, fit

MODELS = {"lightgbm": "LightGBM", "logistic_regression": "logistic regression"}
BASELINE = (
    "logistic regression (L2, C = 1, classes unweighted like LightGBM's) on the same features: "
    "signed log1p, median-imputed with a missing-value indicator per feature, standardised"
)
ENTITIES = {"payment": "payment_id", "customer": "customer_id"}
VALIDATION_SHARE = 0.2

Progress = Callable[[str], None]


@dataclass(frozen=True)
class FoldResult:
    """One fold's windows, row counts, and each model's test metrics and PR curve."""

    fold: Fold
    counts: dict[str, int]
    metrics: dict[str, dict[str, float]]
    curves: dict[str, dict[str, list[float]]]


@dataclass(frozen=True)
class Evaluation:
    """Every fold's results, the features both models used, and how precision@k was counted."""

    plan: Plan
    folds: list[FoldResult]
    features: list[str]
    k: int
    entity: str

    def summary(self) -> dict[str, dict[str, dict[str, float]]]:
        """Return per model each metric's mean and standard deviation over folds."""
        return {model: spread([f.metrics[model] for f in self.folds]) for model in MODELS}

    def to_dict(self) -> dict[str, Any]:
        """Return everything the report shows, as plain data."""
        plan = self.plan
        return {
            "protocol": {
                "train_days": plan.train_days,
                "gap_days": plan.gap_days,
                "test_days": plan.test_days,
                "folds": plan.folds,
                "step_days": plan.step,
                "start": self.folds[0].fold.train_start.isoformat(),
                "exclude_known_fraud": plan.exclude_known_fraud,
            },
            "precision_at_k": {"k": self.k, "entity": ENTITIES[self.entity]},
            "models": {
                "lightgbm": {"name": MODELS["lightgbm"], "params": PARAMS},
                "logistic_regression": {"name": MODELS["logistic_regression"], "about": BASELINE},
            },
            "features": self.features,
            "folds": [
                {
                    "fold": r.fold.number,
                    **r.fold.describe(),
                    "counts": r.counts,
                    "metrics": r.metrics,
                    "pr_curves": r.curves,
                }
                for r in self.folds
            ],
            "summary": self.summary(),
        }


def entity_keys(orders: pd.DataFrame, entity: str) -> pd.Series:
    """Return the key precision@k ranks by; an order without one counts as its own entity."""
    if entity not in ENTITIES:
        raise ProtocolError("entity", f"must be one of {', '.join(ENTITIES)}, got {entity!r}")
    column = ENTITIES[entity]
    keys = orders[column].astype("string")
    if keys.isna().all():
        raise ProtocolError("entity", f"the data has no {column}: rank by customer instead")
    return keys.fillna("order:" + orders["order_id"].astype("string"))


def order_features(orders: pd.DataFrame) -> TrainingFrame:
    """Return every order's point-in-time features, computed once; labels are the final ones."""
    enriched = enrich(orders)
    columns = to_columns(enriched)
    names = model_features(enriched)
    aggregates = {
        n: v for n, v in point_in_time(columns, computable(enriched)).items() if n in names
    }
    return frame_of(enriched, columns, aggregates, names)


def _signed_log(matrix: np.ndarray) -> np.ndarray:
    # Counts and amounts are heavy-tailed; raw, a few extreme values would set a linear fit.
    finite = np.where(np.isfinite(matrix), matrix, np.nan)
    logged: np.ndarray = np.sign(finite) * np.log1p(np.abs(finite))
    return logged


def fit_baseline(frame: TrainingFrame, rows: np.ndarray) -> Pipeline:
    """Fit the logistic-regression baseline on some rows of a frame."""
    pipeline = make_pipeline(
        FunctionTransformer(_signed_log),
        SimpleImputer(strategy="median", add_indicator=True, keep_empty_features=True),
        StandardScaler(),
        LogisticRegression(C=1.0, max_iter=2000),
    )
    pipeline.fit(frame.matrix[rows], frame.labels[rows].astype(int))
    return pipeline


def split_validation(
    rows: np.ndarray, labels: np.ndarray, created_at: pd.Series
) -> tuple[np.ndarray, np.ndarray]:
    """Hold out the latest fifth of each class's rows for early stopping and the cut point.

    Per class, because legitimate labels mature later than fraud labels: the latest rows
    overall could be fraud alone.
    """
    fit_rows, valid_rows = [], []
    times = created_at.to_numpy()
    for value in (0.0, 1.0):
        mine = rows[labels[rows] == value]
        mine = mine[np.argsort(times[mine], kind="stable")]
        held = max(1, int(len(mine) * VALIDATION_SHARE)) if len(mine) > 1 else 0
        fit_rows.append(mine[: len(mine) - held])
        valid_rows.append(mine[len(mine) - held :])
    return np.sort(np.concatenate(fit_rows)), np.sort(np.concatenate(valid_rows))


def known_fraud_before_day(
    orders: pd.DataFrame, entities: pd.Series, since: pd.Timestamp | None = None
) -> np.ndarray:
    """Return which orders' entity had a fraud label known before the order's (UTC) day began.

    Such an entity is blocked already: its later orders are no detection task, and the
    published protocols leave them out of the test days. Only frauds of orders placed
    from `since` on count (the fold's training start, as those protocols do). A flag
    counts as in training (`protocol.fraud_flags`): from its time until a legitimate
    label withdrew it.
    """
    flagged, until = fraud_flags(orders)
    if since is not None:
        flagged = flagged.where(orders["created_at"] >= since)
    day = orders["created_at"].dt.floor("D")
    keys = entities.to_numpy()
    # A flag never withdrawn blocks its entity from its time on: the first one says it all.
    lasting = flagged.where(until.isna()).groupby(keys).transform("min")
    known: np.ndarray = (lasting < day).fillna(False).to_numpy(dtype=bool)
    # A withdrawn one (rare) blocks only the days it held.
    spans = pd.DataFrame({"key": keys, "flagged": flagged, "until": until})
    spans = spans[flagged.notna() & until.notna()]
    if len(spans):
        orders_of = pd.DataFrame({"key": keys, "day": day, "row": np.arange(len(keys))})
        pairs = orders_of.merge(spans, on="key")
        covered = fraud_at(pairs["flagged"], pairs["until"], pairs["day"])
        known[pairs["row"][covered.to_numpy()].to_numpy()] = True
    return known


def run_fold(
    frame: TrainingFrame,
    orders: pd.DataFrame,
    fold: Fold,
    k: int,
    entities: pd.Series,
    exclude_known_fraud: bool = False,
) -> FoldResult:
    """Train both models on what was known before the fold's test start; measure its test window."""
    in_training = fold.in_training(frame.created_at).to_numpy()
    known = labels_known_before(orders, fold.test_start)["label"]
    labels = known.to_numpy(dtype=float, na_value=np.nan)
    fit_rows, valid_rows = split_validation(
        np.flatnonzero(in_training & ~np.isnan(labels)), labels, frame.created_at
    )
    known_frame = replace(frame, labels=labels)
    booster = fit(known_frame, fit_rows, valid_rows)
    baseline = fit_baseline(known_frame, fit_rows)
    scorers: dict[str, Callable[[np.ndarray], np.ndarray]] = {
        "lightgbm": lambda m: np.asarray(booster.predict(m), dtype=float),
        "logistic_regression": lambda m: np.asarray(baseline.predict_proba(m)[:, 1], dtype=float),
    }
    in_test = fold.in_test(frame.created_at).to_numpy()
    excluded = np.zeros(len(in_test), dtype=bool)
    if exclude_known_fraud:
        excluded = known_fraud_before_day(orders, entities, fold.train_start)
    left_out = int((in_test & excluded).sum())
    test = np.flatnonzero(in_test & ~excluded)
    truth = frame.labels[test]
    days = frame.created_at.iloc[test].dt.floor("D")
    metrics, curves = {}, {}
    for model, score in scorers.items():
        high = choose(score(frame.matrix[valid_rows]), labels[valid_rows]).high
        scores = score(frame.matrix[test])
        metrics[model] = window_metrics(truth, scores, days, entities.iloc[test], k, high)
        curves[model] = pr_points(truth, scores)
    used = np.concatenate([fit_rows, valid_rows])
    counts = {
        "train_orders": int(in_training.sum()),
        "train_labelled": len(used),
        "train_fraud": int((labels[used] == 1).sum()),
        "validation_rows": len(valid_rows),
        "test_orders": len(test),
        "test_left_out_known_fraud": left_out,
        "test_labelled": int((~np.isnan(truth)).sum()),
        "test_fraud": int((truth == 1).sum()),
        "test_days": int(days.nunique()),
    }
    return FoldResult(fold, counts, metrics, curves)


def evaluate_out_of_time(
    orders: pd.DataFrame,
    plan: Plan,
    folds: list[Fold],
    k: int = 100,
    entity: str = "payment",
    progress: Progress | None = None,
) -> Evaluation:
    """Run every fold on canonical orders; `folds` come from `protocol.plan_folds`."""
    say = progress or (lambda _: None)
    if k < 1:
        raise ProtocolError("k", f"must be at least 1, got {k}")
    orders = orders.reset_index(drop=True)
    entities = entity_keys(orders, entity)
    say(f"computing point-in-time features of {len(orders):,} orders")
    frame = order_features(orders)
    results = []
    for fold in folds:
        say(f"fold {fold.number}/{len(folds)}: LightGBM and logistic regression")
        results.append(run_fold(frame, orders, fold, k, entities, plan.exclude_known_fraud))
    return Evaluation(plan, results, frame.features, k, entity)
