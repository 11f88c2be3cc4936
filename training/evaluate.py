"""Honest evaluation on a period neither the model nor its thresholds saw."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from sklearn.metrics import (
    average_precision_score,
    precision_recall_curve,
    roc_auc_score,
    roc_curve,
)

from models.scorer import Thresholds
from training.thresholds import Period

FPR_POINTS = (0.005, 0.01)


def recall_at_fpr(labels: np.ndarray, scores: np.ndarray, fpr_target: float) -> float:
    """Return the share of fraud caught while flagging at most `fpr_target` of honest orders."""
    fpr, tpr, _ = roc_curve(labels, scores)
    return float(tpr[fpr <= fpr_target].max())


def fpr_name(target: float) -> str:
    """Return the metric name of recall at one false-positive rate."""
    return f"recall_at_fpr_{target * 100:g}pct"


def ranking_metrics(
    labels: np.ndarray, scores: np.ndarray, high: float, fpr_targets: Iterable[float]
) -> dict[str, float]:
    """Return ROC AUC, AP, recall at fixed false-positive rates, and both classes at `high`."""
    out = {
        "roc_auc": float(roc_auc_score(labels, scores)),
        "average_precision": float(average_precision_score(labels, scores)),
        "honest_flagged_high": float((scores[labels == 0] >= high).mean()),
        "recall_high": float((scores[labels == 1] >= high).mean()),
    }
    for target in fpr_targets:
        out[fpr_name(target)] = recall_at_fpr(labels, scores, target)
    return out


def metrics(
    labels: np.ndarray,
    scores: np.ndarray,
    scenarios: pd.Series,
    thresholds: Thresholds,
    days: float | None = None,
) -> dict[str, float]:
    """Return ROC AUC, AP, recall at fixed FPRs, per-scenario recall and, given days, cases/day."""
    out = ranking_metrics(labels, scores, thresholds.high, FPR_POINTS)
    out["fraud_rate"] = float(labels.mean())
    if days is not None:
        # Realised on this period only: reported, never used to choose a cut point.
        period = Period(scores, labels, days)
        out["orders_per_day"] = period.orders_per_day()
        out["cases_per_day_high"] = period.cases_per_day(thresholds.high, thresholds.critical)
    honest = scores[labels == 0]
    one_pct_cut = np.quantile(honest, 0.99)
    for scenario in sorted(scenarios[labels == 1].dropna().unique()):
        mine = (scenarios == scenario).fillna(False).to_numpy(dtype=bool) & (labels == 1)
        out[f"recall_high_{scenario}"] = float((scores[mine] >= thresholds.high).mean())
        out[f"recall_at_fpr_1pct_{scenario}"] = float((scores[mine] > one_pct_cut).mean())
        out[f"count_{scenario}"] = float(mine.sum())
    return out


def pr_curve_plot(labels: np.ndarray, scores: np.ndarray, path: Path) -> Path:
    """Save the precision-recall curve of the test period."""
    precision, recall, _ = precision_recall_curve(labels, scores)
    fig, ax = plt.subplots(figsize=(5, 4))
    ax.plot(recall, precision)
    ax.set_xlabel("recall")
    ax.set_ylabel("precision")
    ax.set_title(f"test period, AP = {average_precision_score(labels, scores):.3f}")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
