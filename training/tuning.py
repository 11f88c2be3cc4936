"""A bounded search of LightGBM's hyperparameters on the validation period.

Optuna's TPE sampler, seeded, proposes parameters from `tuning_space.SPACE`;
each trial fits on the train rows with early stopping on the validation rows
(as `training.train.fit` does) and is scored by validation average precision.
The first trial is the caller's own parameters, so the search never returns a
model worse on validation than them. A trial whose model takes longer than the
cap to explain one order with exact TreeSHAP is pruned and never chosen. The
search stops at the trial cap or at the time budget, cutting short a trial
that is still boosting then. Every trial is an MLflow run nested under the
caller's active run. Only train and validation rows are arguments: the test
period cannot be seen.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager

import lightgbm as lgb
import numpy as np
import optuna
from optuna.trial import TrialState
from sklearn.metrics import average_precision_score

from explain.contributions import explanation_cost_ms
from training.tuning_runs import (
    COMPLETE,
    OUT_OF_TIME,
    OVER_CAP,
    TrialRecord,
    TuningResult,
    log_summary,
    log_trial,
    parent_run,
)
from training.tuning_space import SPACE, Knob, OutOfTime, Rows, fit_booster

__all__ = ["EXPLANATION_CAP_MS", "TrialRecord", "TuningError", "TuningResult", "tune"]

# One exact explanation of one order, from Python, as `explanation_cost_ms` measures it
# and training logs it (`explanation_ms`): training.train.PARAMS are chosen to keep it
# "well under a millisecond per decision", and no tuned model may give that up.
EXPLANATION_CAP_MS = 1.0
# Validation rows the cost is measured on, one at a time.
COST_ROWS = 200

CostMeter = Callable[[lgb.Booster], float]


class TuningError(ValueError):
    """Raised when the search cannot give a model: bad arguments, or none under the cap."""


def tune(
    train: Rows,
    valid: Rows,
    *,
    budget_seconds: float,
    max_trials: int,
    seed: int,
    base_params: Mapping[str, object],
    feature_names: Sequence[str] | None = None,
    max_rounds: int = 600,
    early_stopping: int = 50,
    explanation_cap_ms: float = EXPLANATION_CAP_MS,
    explanation_cost: CostMeter | None = None,
    space: Sequence[Knob] = SPACE,
) -> TuningResult:
    """Search LightGBM parameters for the best validation AP within a time budget and the cap.

    The defaults' trial always runs to its end; later ones are cut at the deadline.
    `explanation_cost` returns one exact explanation's time in ms (default: measured
    on validation rows). Defaults over the cap are pruned like any trial, and the best
    model under it is returned even if the defaults scored higher. Raises TuningError
    when no trial's model fits under the cap.
    """
    if max_trials < 1 or budget_seconds < 0:
        raise TuningError("the search needs at least one trial and a budget of 0 s or more")
    if not np.any(valid[1]):
        raise TuningError("the validation period has no fraud label: AP is undefined")
    measure = explanation_cost or (lambda b: explanation_cost_ms(b, valid[0][:COST_ROWS]))
    knobs = [knob.around(base_params) for knob in space]
    started = time.monotonic()
    deadline = started + budget_seconds
    records: list[TrialRecord] = []
    best: tuple[TrialRecord, lgb.Booster] | None = None

    def fit(params: dict[str, object], until: float | None) -> lgb.Booster:
        return fit_booster(
            params,
            train,
            valid,
            feature_names=feature_names,
            max_rounds=max_rounds,
            early_stopping=early_stopping,
            deadline=until,
        )

    with _quiet_optuna(), parent_run() as parent:
        sampler = optuna.samplers.TPESampler(seed=seed)
        study = optuna.create_study(direction="maximize", sampler=sampler)
        study.enqueue_trial({k.name: base_params[k.name] for k in knobs if k.name in base_params})
        while len(records) < max_trials and (not records or time.monotonic() < deadline):
            trial = study.ask()
            # The defaults' trial sets only what the base parameters set, nothing sampled.
            searched = {k.name: k.suggest(trial) for k in knobs if records or k.name in base_params}
            record, booster = _run_trial(
                trial.number,
                {**base_params, **searched},
                searched,
                valid,
                fit=fit,
                # The defaults' trial always ends: it is the baseline and the fallback.
                deadline=deadline if records else None,
                measure=measure,
                cap=explanation_cap_ms,
            )
            log_trial(record, parent)
            records.append(record)
            if record.state == COMPLETE and booster is not None:
                study.tell(trial, record.ap)
                # Strictly better only: a tie keeps the earlier trial, the defaults first.
                if best is None or record.ap > best[0].ap:
                    best = (record, booster)
            else:
                study.tell(trial, state=TrialState.PRUNED)
        result = _result(records, best, base_params, time.monotonic() - started)
        log_summary(result, budget_seconds, max_trials, seed, explanation_cap_ms)
    return result


def _run_trial(
    number: int,
    params: dict[str, object],
    searched: dict[str, int | float],
    valid: Rows,
    *,
    fit: Callable[[dict[str, object], float | None], lgb.Booster],
    deadline: float | None,
    measure: CostMeter,
    cap: float,
) -> tuple[TrialRecord, lgb.Booster | None]:
    """Fit one trial's model, score it on validation and measure its explanation cost."""
    began = time.monotonic()
    try:
        booster = fit(params, deadline)
    except OutOfTime:
        return TrialRecord(number, searched, OUT_OF_TIME, seconds=time.monotonic() - began), None
    scores = np.asarray(booster.predict(valid[0]), dtype=float)
    ap = float(average_precision_score(valid[1], scores))
    cost = float(measure(booster))
    state = COMPLETE if cost <= cap else OVER_CAP
    seconds = time.monotonic() - began
    return TrialRecord(number, searched, state, ap, cost, booster.num_trees(), seconds), booster


def _result(
    records: list[TrialRecord],
    best: tuple[TrialRecord, lgb.Booster] | None,
    base_params: Mapping[str, object],
    elapsed: float,
) -> TuningResult:
    """Return the search's result, or raise when no trial came in under the cap."""
    defaults = records[0]
    if best is None:
        raise TuningError(
            f"no trial's model explains an order under the cap: the defaults' takes "
            f"{defaults.explanation_ms:.3f} ms; raise the cap or the budget"
        )
    record, booster = best
    assert defaults.average_precision is not None and defaults.explanation_ms is not None
    assert record.explanation_ms is not None
    return TuningResult(
        params={**base_params, **record.params},
        booster=booster,
        average_precision=record.ap,
        explanation_ms=record.explanation_ms,
        default_average_precision=defaults.average_precision,
        default_explanation_ms=defaults.explanation_ms,
        trials=tuple(records),
        elapsed_seconds=elapsed,
        best_trial=record.number,
    )


@contextmanager
def _quiet_optuna() -> Iterator[None]:
    """Silence Optuna's per-trial log lines for the search (MLflow keeps every trial)."""
    level = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        yield
    finally:
        optuna.logging.set_verbosity(level)
