"""Train, evaluate out of time, choose thresholds, log to MLflow and register a challenger."""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import lightgbm as lgb
import mlflow
import numpy as np
import pandas as pd

from explain.contributions import explain, explanation_cost_ms
from explain.plots import global_importance, summary_plot
from features.catalog import spec_hash
from models.registry import connect, log_scorer
from models.scorer import ModelCard, Scorer
from models.settings import ModelSettings
from training import thresholds as tiers
from training.dataset import TrainingFrame, training_frame
from training.evaluate import metrics, pr_curve_plot
from training.feature_choice import logged_dropped_features
from training.splits import SplitOptions, TimeSplit, label_note, order_log, plan_split
from training.tuning import tune
from training.tuning_runs import TuningResult
from training.tuning_space import fit_booster

# Depth and leaves are capped so that exact TreeSHAP (cost ~ trees x leaves x
# depth^2) stays well under a millisecond per decision.
PARAMS: dict[str, object] = {
    "objective": "binary",
    "learning_rate": 0.05,
    "num_leaves": 31,
    "max_depth": 6,
    "min_child_samples": 40,
    "feature_fraction": 0.8,
    "bagging_fraction": 0.8,
    "bagging_freq": 1,
    "lambda_l2": 1.0,
    "verbose": -1,
    "seed": 7,
    "num_threads": 2,
}
MAX_ROUNDS = 600
EARLY_STOPPING = 50
# The search's own seed: the same history and budget give the same trials.
TUNING_SEED = 7

Progress = Callable[[str], None]


@dataclass(frozen=True)
class TrainingResult:
    """What a training run produced."""

    run_id: str
    version: str
    split: TimeSplit
    test_metrics: dict[str, float]
    card: ModelCard
    explanation_ms: float
    bound_by: str = tiers.FP_BUDGET
    review_capacity: float | None = None
    valid_point: dict[str, float] = field(default_factory=dict)
    label_note: str = ""
    """Which training and validation labels were left out, or used though not known in time."""
    tuning: TuningResult | None = None
    """The hyperparameter search on validation, when one ran."""


def fit(frame: TrainingFrame, train: np.ndarray, valid: np.ndarray) -> lgb.Booster:
    """Fit LightGBM on the train rows, stopping early on the later validation rows."""
    return fit_booster(
        PARAMS,
        (frame.matrix[train], frame.labels[train]),
        (frame.matrix[valid], frame.labels[valid]),
        feature_names=frame.features,
        max_rounds=MAX_ROUNDS,
        early_stopping=EARLY_STOPPING,
    )


def train(
    settings: ModelSettings,
    options: SplitOptions | None = None,
    high_budget: float = tiers.DEFAULT_HIGH_BUDGET,
    progress: Progress | None = None,
    review_capacity: float | None = None,
    tune_seconds: float = 0.0,
    tune_trials: int = 50,
) -> TrainingResult:
    """Run one training: out-of-time split, fit, thresholds, test metrics, MLflow, registry.

    With `tune_seconds`, LightGBM's parameters are searched on the validation period first
    (`training.tuning`: Optuna, every trial in MLflow, under the explanation-cost cap).

    The split is planned and checked on the order log before any feature is read; a split
    that cannot hold raises `ProtocolError` naming the option at fault (`training.splits`).
    """
    say = progress or (lambda _: None)
    orders = order_log(settings)
    split = plan_split(options or SplitOptions(), orders)
    note = label_note(split, orders)
    say("joining features through Feast")
    frame = training_frame(settings)
    usable = pd.Series(split.labels(orders).to_numpy(), index=orders["order_id"].to_numpy())
    frame = replace(frame, labels=usable.reindex(frame.order_ids.to_numpy()).to_numpy())
    labelled = ~np.isnan(frame.labels)
    train_rows, valid_rows, test_rows = (
        m.to_numpy() & labelled for m in split.masks(frame.created_at)
    )
    dropped = logged_dropped_features(settings)
    tuned, params = None, PARAMS
    if tune_seconds > 0:
        say(f"tuning LightGBM on validation for up to {tune_seconds:.0f} s")
        tuned = tune(
            (frame.matrix[train_rows], frame.labels[train_rows]),
            (frame.matrix[valid_rows], frame.labels[valid_rows]),
            budget_seconds=tune_seconds,
            max_trials=tune_trials,
            seed=TUNING_SEED,
            base_params=PARAMS,
            feature_names=frame.features,
            max_rounds=MAX_ROUNDS,
            early_stopping=EARLY_STOPPING,
        )
        booster, params = tuned.booster, tuned.params
    else:
        say("fitting LightGBM")
        booster = fit(frame, train_rows, valid_rows)
    valid_scores = np.asarray(booster.predict(frame.matrix[valid_rows]), dtype=float)
    # Thresholds and their trade-offs come from the validation period alone.
    valid = tiers.Period.between(
        valid_scores, frame.labels[valid_rows], split.train_end, split.valid_end
    )
    choice = tiers.choose_within(valid, high_budget, review_capacity)
    cuts = choice.thresholds
    # The same booster on request-time features only (the online store out), with
    # cut points of its own, chosen the same way on the same validation period.
    valid_request_only = tiers.Period.between(
        np.asarray(booster.predict(frame.request_matrix[valid_rows]), dtype=float),
        frame.labels[valid_rows],
        split.train_end,
        split.valid_end,
    )
    degraded_cuts = tiers.choose_within(valid_request_only, high_budget, review_capacity)
    card = ModelCard(
        frame.features,
        cuts,
        spec_hash(),
        tiers.tradeoffs(valid, cuts.critical, review_capacity),
        degraded_cuts.thresholds,
        split.describe(),
        dropped,
    )
    point = tiers.operating_point(valid, cuts.high, cuts.critical)
    # Named like the test metrics, so validation and test figures line up in MLflow.
    valid_point = {
        "honest_flagged_high": point["honest_flagged"],
        "recall_high": point["fraud_recall"],
        "cases_per_day_high": point["cases_per_day"],
        "orders_per_day": valid.orders_per_day(),
    }
    scorer = Scorer(booster, card)
    test_scores = scorer.score(frame.matrix[test_rows])
    scores_metrics = metrics(
        frame.labels[test_rows],
        test_scores,
        frame.scenarios[test_rows].reset_index(drop=True),
        cuts,
        days=(split.end - split.test_start) / pd.Timedelta(days=1),
    )
    degraded_metrics = metrics(
        frame.labels[test_rows],
        scorer.score(frame.request_matrix[test_rows]),
        frame.scenarios[test_rows].reset_index(drop=True),
        degraded_cuts.thresholds,
    )
    say("explaining and logging to MLflow")
    connect(settings)
    with mlflow.start_run() as run, tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        sample = frame.matrix[test_rows][:2000]
        explanation = explain(booster, sample)
        cost = explanation_cost_ms(booster, sample)
        mlflow.log_params(
            {
                **{f"lgb_{k}": v for k, v in params.items()},
                "tuning_trials": 0 if tuned is None else tuned.n_trials,
                "trees": booster.num_trees(),
                "spec_hash": card.spec_hash,
                "high_fp_budget": high_budget,
                "review_capacity": "none" if review_capacity is None else review_capacity,
                "high_bound_by": choice.bound_by,
                "n_features": len(frame.features),
                "n_features_dropped": len(dropped),
                **{f"range_{k}": v for k, v in split.describe().items()},
                **{f"threshold_{k}": v for k, v in vars(cuts).items()},
                **{f"degraded_threshold_{k}": v for k, v in vars(degraded_cuts.thresholds).items()},
                **{
                    f"rows_{k}": int(r.sum())
                    for k, r in (("train", train_rows), ("valid", valid_rows), ("test", test_rows))
                },
            }
        )
        mlflow.log_metrics({f"test_{k}": v for k, v in scores_metrics.items()})
        mlflow.log_metrics(
            {
                f"test_request_only_{k}": degraded_metrics[k]
                for k in ("roc_auc", "average_precision", "honest_flagged_high", "recall_high")
            }
        )
        mlflow.log_metrics({f"valid_{k}": v for k, v in valid_point.items()})
        mlflow.log_metric("explanation_ms", cost)
        mlflow.set_tags(
            {"spec_hash": card.spec_hash, "trees": booster.num_trees(), "labels_note": note}
        )
        (out / "features.json").write_text(json.dumps(frame.features, indent=1))
        (out / "features_dropped.json").write_text(json.dumps(dropped, indent=1))
        (out / "tradeoffs.json").write_text(json.dumps(card.tradeoffs, indent=1))
        (out / "global_importance.json").write_text(
            json.dumps(global_importance(explanation, frame.features), indent=1)
        )
        summary_plot(explanation, sample, frame.features, out / "shap_summary.png")
        pr_curve_plot(frame.labels[test_rows], test_scores, out / "pr_curve_test.png")
        mlflow.log_artifacts(str(out))
        version = log_scorer(booster, card, settings)
    return TrainingResult(
        run.info.run_id,
        version,
        split,
        scores_metrics,
        card,
        cost,
        choice.bound_by,
        review_capacity,
        valid_point,
        note,
        tuned,
    )
