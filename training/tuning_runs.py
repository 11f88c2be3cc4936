"""What a tuning search records: its trials, its result, and their MLflow runs."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import lightgbm as lgb
import mlflow

# What became of a trial: scored and under the cap, over the cap, or cut by the deadline.
COMPLETE = "complete"
OVER_CAP = "pruned_explanation_cost"
OUT_OF_TIME = "pruned_out_of_time"


@dataclass(frozen=True)
class TrialRecord:
    """One trial: its searched values, what became of it, its validation AP and cost."""

    number: int
    params: dict[str, int | float]
    state: str
    average_precision: float | None = None
    explanation_ms: float | None = None
    trees: int | None = None
    seconds: float = 0.0

    @property
    def ap(self) -> float:
        """Return the validation AP of a trial that was scored."""
        if self.average_precision is None:
            raise ValueError(f"trial {self.number} was stopped before it was scored")
        return self.average_precision


@dataclass(frozen=True)
class TuningResult:
    """The chosen parameters and model, the defaults' figures, and every trial."""

    params: dict[str, object]
    """The base parameters with the best trial's values: what to fit the model with."""
    booster: lgb.Booster
    """The best trial's model, cut at its best iteration (refitting gives the same one)."""
    average_precision: float
    explanation_ms: float
    default_average_precision: float
    default_explanation_ms: float
    trials: tuple[TrialRecord, ...]
    elapsed_seconds: float
    best_trial: int

    @property
    def n_trials(self) -> int:
        """Return how many trials ran, the defaults' included."""
        return len(self.trials)

    @property
    def n_pruned(self) -> int:
        """Return how many trials were pruned for their explanation cost."""
        return sum(t.state == OVER_CAP for t in self.trials)


@contextmanager
def parent_run() -> Iterator[mlflow.ActiveRun]:
    """Yield the caller's active MLflow run, or a run of the search's own when none is."""
    active = mlflow.active_run()
    if active is not None:
        yield active
        return
    with mlflow.start_run(run_name="tuning") as run:
        yield run


def log_trial(record: TrialRecord, parent: mlflow.ActiveRun) -> None:
    """Log one trial as an MLflow run nested under the parent run."""
    metrics = {"trial_seconds": record.seconds}
    if record.average_precision is not None:
        metrics["valid_average_precision"] = record.average_precision
    if record.explanation_ms is not None:
        metrics["explanation_ms"] = record.explanation_ms
    with mlflow.start_run(
        run_name=f"trial {record.number}",
        nested=True,
        experiment_id=parent.info.experiment_id,
        tags={"trial_state": record.state, "trial_number": str(record.number)},
    ):
        trees = {} if record.trees is None else {"trees": record.trees}
        mlflow.log_params({**record.params, **trees})
        mlflow.log_metrics(metrics)


def log_summary(
    result: TuningResult, budget: float, max_trials: int, seed: int, cap: float
) -> None:
    """Log the search's settings and outcome on the parent run."""
    mlflow.log_params(
        {
            "tuning_budget_seconds": budget,
            "tuning_max_trials": max_trials,
            "tuning_seed": seed,
            "tuning_explanation_cap_ms": cap,
            "tuning_best_trial": result.best_trial,
        }
    )
    mlflow.log_metrics(
        {
            "tuning_default_valid_average_precision": result.default_average_precision,
            "tuning_best_valid_average_precision": result.average_precision,
            "tuning_trials": result.n_trials,
            "tuning_pruned": result.n_pruned,
            "tuning_seconds": result.elapsed_seconds,
        }
    )
