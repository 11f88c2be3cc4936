"""The search space of the LightGBM tuning and one trial's fit, stoppable at a deadline."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

import lightgbm as lgb
import numpy as np
import optuna

# A period's feature matrix and its 0/1 labels.
Rows = tuple[np.ndarray, np.ndarray]
Callback = Callable[[lgb.callback.CallbackEnv], None]


@dataclass(frozen=True)
class Knob:
    """One searched LightGBM parameter and its range (widened to hold the caller's value)."""

    name: str
    low: float
    high: float
    log: bool = False
    integer: bool = False

    def around(self, base: Mapping[str, object]) -> Knob:
        """Return this knob with its range stretched to include the base parameters' value."""
        value = base.get(self.name)
        if value is None:
            return self
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError(f"base parameter {self.name}={value!r} is not a number")
        return Knob(self.name, min(self.low, value), max(self.high, value), self.log, self.integer)

    def suggest(self, trial: optuna.Trial) -> int | float:
        """Return the trial's value of this parameter."""
        if self.integer:
            return trial.suggest_int(self.name, int(self.low), int(self.high), log=self.log)
        return trial.suggest_float(self.name, self.low, self.high, log=self.log)


# Bounded around training.train.PARAMS. Depth, leaves and (through early stopping)
# rounds drive the exact TreeSHAP cost; trials over the cap are pruned all the same,
# as cost also depends on how wide the leaves' paths turn out.
SPACE: tuple[Knob, ...] = (
    Knob("learning_rate", 0.02, 0.2, log=True),
    Knob("num_leaves", 7, 63, integer=True),
    Knob("max_depth", 3, 8, integer=True),
    Knob("min_child_samples", 10, 200, log=True, integer=True),
    Knob("feature_fraction", 0.5, 1.0),
    Knob("bagging_fraction", 0.5, 1.0),
    Knob("lambda_l2", 1e-3, 30.0, log=True),
)


class OutOfTime(Exception):
    """Raised inside boosting when the search's deadline has passed."""


def _stop_at(deadline: float) -> Callback:
    """Return a LightGBM callback that raises OutOfTime once `deadline` has passed."""

    def check(env: lgb.callback.CallbackEnv) -> None:
        if time.monotonic() >= deadline:
            raise OutOfTime

    return check


def fit_booster(
    params: Mapping[str, object],
    train: Rows,
    valid: Rows,
    *,
    feature_names: Sequence[str] | None = None,
    max_rounds: int,
    early_stopping: int,
    deadline: float | None = None,
) -> lgb.Booster:
    """Fit on the train rows, stopping early on the validation rows; keep the best iteration.

    Every LightGBM fit of training goes through here (`training.train.fit`, tuning trials).
    Raises OutOfTime when `deadline` (a time.monotonic() value) passes while boosting.
    """
    names: list[str] | Literal["auto"] = "auto" if feature_names is None else list(feature_names)
    train_set = lgb.Dataset(train[0], train[1], feature_name=names, free_raw_data=False)
    valid_set = lgb.Dataset(valid[0], valid[1], reference=train_set)
    callbacks: list[Callback] = [lgb.early_stopping(early_stopping, verbose=False)]
    if deadline is not None:
        callbacks.append(_stop_at(deadline))
    booster = lgb.train(
        dict(params),
        train_set,
        num_boost_round=max_rounds,
        valid_sets=[valid_set],
        callbacks=callbacks,
    )
    # Keep only the trees up to the best iteration, so the model scored is the model kept.
    return lgb.Booster(model_str=booster.model_to_string(num_iteration=booster.best_iteration))
