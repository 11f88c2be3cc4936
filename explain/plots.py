"""Global explanation plots: the SHAP summary of a model on a sample of orders."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import shap

from explain.contributions import Explanation


def global_importance(explanation: Explanation, features: list[str]) -> dict[str, float]:
    """Return the mean absolute SHAP value of every feature, largest first."""
    means = np.abs(explanation.values).mean(axis=0)
    order = np.argsort(-means)
    return {features[i]: float(means[i]) for i in order}


def summary_plot(
    explanation: Explanation,
    matrix: np.ndarray,
    features: list[str],
    path: Path,
    max_display: int = 20,
) -> Path:
    """Save a SHAP beeswarm summary plot to `path`."""
    plt.figure()
    shap.summary_plot(
        explanation.values, matrix, feature_names=features, show=False, max_display=max_display
    )
    plt.tight_layout()
    plt.savefig(path, dpi=110)
    plt.close("all")
    return path
