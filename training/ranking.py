"""Ranking metrics of one test window, and their mean and spread over folds.

Precision among the k riskiest entities per day is the "card precision top-k" of the
fraud-detection literature (Le Borgne et al., Reproducible Machine Learning for Credit
Card Fraud Detection): investigators can check k payment accounts (or customers) a day,
so each test day the entities are ranked by their riskiest order that day, and the
share of the top k with a fraudulent order that day is that day's precision. It is
divided by k even on days with fewer fraudulent entities than k, so its best possible
value is reported beside it.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.metrics import precision_recall_curve

from training.evaluate import fpr_name, ranking_metrics

FPR_TARGETS = (0.001, 0.01, 0.05)
CURVE_POINTS = 200


METRICS = (
    "roc_auc",
    "average_precision",
    *(fpr_name(target) for target in FPR_TARGETS),
    "precision_at_k",
    "precision_at_k_best",
    "honest_flagged_high",
    "recall_high",
)


def metric_labels(k: int) -> dict[str, str]:
    """Return each metric's name as a person reads it."""
    return {
        "roc_auc": "ROC AUC",
        "average_precision": "average precision",
        **{fpr_name(t): f"recall at {t * 100:g} % FPR" for t in FPR_TARGETS},
        "precision_at_k": f"precision@{k} per day",
        "precision_at_k_best": f"best possible precision@{k}",
        "honest_flagged_high": "honest orders at high+",
        "recall_high": "fraud recall at high+",
    }


def precision_at_k(
    days: pd.Series, entities: pd.Series, fraud: np.ndarray, scores: np.ndarray, k: int
) -> tuple[float, float]:
    """Return the mean over days of precision among the k riskiest entities, and its best value."""
    frame = pd.DataFrame(
        {
            "day": days.to_numpy(),
            "entity": entities.to_numpy(),
            "score": scores,
            "fraud": fraud.astype(bool),
        }
    )
    per_entity = frame.groupby(["day", "entity"], sort=False).agg(
        score=("score", "max"), fraud=("fraud", "any")
    )
    ranked = per_entity.sort_values("score", ascending=False, kind="stable")
    caught = ranked.groupby(level="day", sort=False).head(k).groupby(level="day")["fraud"].sum()
    present = per_entity.groupby(level="day")["fraud"].sum()
    caught = caught.reindex(present.index, fill_value=0)
    return float((caught / k).mean()), float((present.clip(upper=k) / k).mean())


def window_metrics(
    labels: np.ndarray,
    scores: np.ndarray,
    days: pd.Series,
    entities: pd.Series,
    k: int,
    high: float,
) -> dict[str, float]:
    """Return one model's metrics on one test window; NaN labels are orders still unlabelled.

    Unlabelled orders are ranked with the others for precision@k (investigators see them
    too) but count as not fraudulent; the other metrics use labelled orders only.
    """
    labelled = ~np.isnan(labels)
    # The cut point was chosen before the test window; here it is only measured.
    out = ranking_metrics(labels[labelled].astype(int), scores[labelled], high, FPR_TARGETS)
    out["precision_at_k"], out["precision_at_k_best"] = precision_at_k(
        days, entities, labels == 1, scores, k
    )
    return out


def pr_points(labels: np.ndarray, scores: np.ndarray) -> dict[str, list[float]]:
    """Return a precision-recall curve of labelled orders, thinned to a few hundred points."""
    labelled = ~np.isnan(labels)
    precision, recall, _ = precision_recall_curve(labels[labelled].astype(int), scores[labelled])
    keep = np.unique(np.linspace(0, len(recall) - 1, min(len(recall), CURVE_POINTS)).astype(int))
    return {
        "recall": [round(float(v), 5) for v in recall[keep]],
        "precision": [round(float(v), 5) for v in precision[keep]],
    }


def spread(per_fold: list[dict[str, float]]) -> dict[str, dict[str, float]]:
    """Return each metric's mean and sample standard deviation over folds (NaN for one fold)."""
    out = {}
    for name in per_fold[0]:
        values = np.array([fold[name] for fold in per_fold], dtype=float)
        std = float(values.std(ddof=1)) if len(values) > 1 else float("nan")
        out[name] = {"mean": float(values.mean()), "std": std}
    return out
