"""Write the evaluation as a self-contained HTML report and a JSON file of its figures."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined

from training import backtest_plots as plots
from training.backtest import BASELINE, ENTITIES, MODELS, Evaluation
from training.protocol import shown as shown_moment
from training.ranking import METRICS, metric_labels
from training.thresholds import DEFAULT_HIGH_BUDGET

HTML = "report.html"
JSON = "evaluation.json"
TEMPLATE = "backtest_report.html"
COUNTS = {
    "train_orders": "orders in the training window",
    "train_labelled": "of them labelled before the test start",
    "train_fraud": "fraud among the labelled",
    "validation_rows": "held out for early stopping and the cut point",
    "test_orders": "orders in the test window",
    "test_left_out_known_fraud": "left out: their entity's fraud was known before their day",
    "test_labelled": "of them labelled",
    "test_fraud": "fraud among the labelled",
    "test_days": "test days",
}


@dataclass(frozen=True)
class ReportFiles:
    """Where the report was written."""

    html: Path
    json: Path


def plain(value: Any) -> Any:
    """Return data with NaN and infinities as null, so the JSON is standard JSON."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {key: plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [plain(item) for item in value]
    return value


def shown(value: float) -> str:
    """Return a metric with three decimals, or n/a where it is undefined."""
    return "n/a" if math.isnan(value) else f"{value:.3f}"


def summary_rows(evaluation: Evaluation) -> list[dict[str, Any]]:
    """Return one row per metric: its name and, per model, mean ± std over folds."""
    summary, labels = evaluation.summary(), metric_labels(evaluation.k)
    return [
        {
            "label": labels[metric],
            "cells": [
                f"{shown(summary[m][metric]['mean'])} ± {shown(summary[m][metric]['std'])}"
                for m in MODELS
            ],
        }
        for metric in METRICS
    ]


def _view(evaluation: Evaluation, source: str) -> dict[str, Any]:
    labels = metric_labels(evaluation.k)
    return {
        "source": source,
        "start": shown_moment(evaluation.folds[0].fold.train_start),
        "data": evaluation.to_dict(),
        "models": MODELS,
        "baseline": BASELINE,
        "entity": ENTITIES[evaluation.entity],
        "k": evaluation.k,
        "high_budget": f"{DEFAULT_HIGH_BUDGET * 100:g} %",
        "summary": summary_rows(evaluation),
        "folds": [
            {
                "number": result.fold.number,
                "windows": {
                    "train": f"{shown_moment(result.fold.train_start)} to "
                    f"{shown_moment(result.fold.train_end)}",
                    "test": f"{shown_moment(result.fold.test_start)} to "
                    f"{shown_moment(result.fold.test_end)}",
                },
                "counts": [(COUNTS[name], f"{value:,}") for name, value in result.counts.items()],
                "rows": [
                    {
                        "label": labels[metric],
                        "cells": [shown(result.metrics[m][metric]) for m in MODELS],
                    }
                    for metric in METRICS
                ],
            }
            for result in evaluation.folds
        ],
        "figures": {
            "timeline": plots.timeline(evaluation),
            "per_fold": plots.per_fold(evaluation),
            "pr_curves": plots.pr_curves(evaluation),
        },
    }


def write_report(evaluation: Evaluation, out: Path, source: str) -> ReportFiles:
    """Write report.html and evaluation.json into `out`; `source` names the data evaluated."""
    out.mkdir(parents=True, exist_ok=True)
    figures = out / JSON
    figures.write_text(
        json.dumps(plain({"source": source, **evaluation.to_dict()}), indent=1, allow_nan=False),
        encoding="utf-8",
    )
    environment = Environment(
        loader=FileSystemLoader(Path(__file__).parent),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    page = environment.get_template(TEMPLATE).render(_view(evaluation, source))
    html = out / HTML
    html.write_text(page, encoding="utf-8")
    return ReportFiles(html, figures)
