"""The evaluation's figures as self-contained PNGs: fold timeline, PR curves, metrics per fold."""

from __future__ import annotations

import base64
import io
import math

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import pandas as pd
from matplotlib.figure import Figure

from training.backtest import MODELS, Evaluation
from training.evaluate import fpr_name
from training.ranking import metric_labels

COLOURS = {"lightgbm": "#1f6fb4", "logistic_regression": "#e07b1a"}
PANELS = ("roc_auc", "average_precision", fpr_name(0.01), "precision_at_k")


def _png(fig: Figure) -> str:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100)
    plt.close(fig)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def timeline(evaluation: Evaluation) -> str:
    """Draw each fold's training window, gap and test window on one time axis."""
    results = evaluation.folds
    origin = results[0].fold.train_start

    def day(moment: pd.Timestamp) -> float:
        return float((moment - origin) / pd.Timedelta(days=1))

    fig, ax = plt.subplots(figsize=(9, 0.9 + 0.45 * len(results)))
    for row, result in enumerate(results):
        fold, y = result.fold, len(results) - row
        spans = (
            (fold.train_start, fold.train_end, "#9cc3e4", "training"),
            (fold.train_end, fold.test_start, "#dddddd", "label-maturity gap"),
            (fold.test_start, fold.test_end, "#f3b27a", "test"),
        )
        for start, end, colour, name in spans:
            label = name if row == 0 else None
            ax.barh(y, day(end) - day(start), left=day(start), color=colour, label=label)
        share = result.counts["train_labelled"] / max(result.counts["train_orders"], 1)
        ax.text(
            day(fold.train_start), y, f"  {share:.0%} labelled in time", va="center", fontsize=8
        )
    ticks = sorted({r.fold.train_start for r in results} | {results[-1].fold.test_end})
    ax.set_xticks([day(t) for t in ticks], [f"{t:%Y-%m-%d}" for t in ticks], fontsize=8)
    ax.set_yticks(range(len(results), 0, -1), [f"fold {r.fold.number}" for r in results])
    ax.legend(loc="lower center", bbox_to_anchor=(0.5, 1.08), fontsize=8, ncols=3, frameon=False)
    fig.autofmt_xdate()
    fig.tight_layout()
    return _png(fig)


def pr_curves(evaluation: Evaluation) -> str:
    """Draw both models' precision-recall curves, one panel per fold."""
    results = evaluation.folds
    columns = min(len(results), 4)
    rows = math.ceil(len(results) / columns)
    fig, axes = plt.subplots(
        rows, columns, figsize=(3.2 * columns, 3.0 * rows), squeeze=False, sharey=True
    )
    for ax, result in zip(axes.flat, results, strict=False):
        for model, name in MODELS.items():
            curve, ap = result.curves[model], result.metrics[model]["average_precision"]
            ax.plot(
                curve["recall"],
                curve["precision"],
                color=COLOURS[model],
                label=f"{name} (AP {ap:.3f})",
                drawstyle="steps-post",
            )
        ax.set_title(f"fold {result.fold.number}: test from {result.fold.test_start:%Y-%m-%d}")
        ax.set_xlabel("recall")
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1.02)
        ax.legend(fontsize=7, loc="best")
    for ax in axes[:, 0]:
        ax.set_ylabel("precision")
    for ax in list(axes.flat)[len(results) :]:
        ax.axis("off")
    fig.tight_layout()
    return _png(fig)


def per_fold(evaluation: Evaluation) -> str:
    """Draw the headline metrics fold by fold, each model's mean as a dashed line."""
    numbers = [r.fold.number for r in evaluation.folds]
    summary = evaluation.summary()
    fig, axes = plt.subplots(1, len(PANELS), figsize=(3.1 * len(PANELS), 2.9))
    for ax, metric in zip(axes, PANELS, strict=True):
        for model, name in MODELS.items():
            values = [r.metrics[model][metric] for r in evaluation.folds]
            ax.plot(numbers, values, "o-", color=COLOURS[model], label=name)
            ax.axhline(summary[model][metric]["mean"], color=COLOURS[model], ls="--", lw=0.8)
        if metric == "precision_at_k":
            best = [r.metrics["lightgbm"]["precision_at_k_best"] for r in evaluation.folds]
            ax.plot(numbers, best, ":", color="#555555", label="best possible")
        ax.set_title(metric_labels(evaluation.k)[metric], fontsize=10)
        ax.set_xlabel("fold")
        ax.set_xticks(numbers)
    axes[0].legend(fontsize=7)
    fig.tight_layout()
    return _png(fig)
