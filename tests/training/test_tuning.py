"""The hyperparameter search: within its budget, never worse than the defaults, under the cap."""

from __future__ import annotations

import time
from pathlib import Path

import lightgbm as lgb
import mlflow
import numpy as np
import pytest
from mlflow import MlflowClient
from sklearn.metrics import average_precision_score

from models.registry import EXPERIMENT, connect
from models.settings import ModelSettings
from training.train import PARAMS
from training.tuning import CostMeter, TuningError, TuningResult, tune
from training.tuning_runs import COMPLETE, OUT_OF_TIME, OVER_CAP
from training.tuning_space import SPACE, OutOfTime, Rows, fit_booster

# Training's own parameters; one thread, so that every fit is reproducible.
BASE: dict[str, object] = {**PARAMS, "num_threads": 1}
ROUNDS, PATIENCE = 300, 30


def rows(seed: int, n: int) -> Rows:
    """Return n orders of 8 features with rare fraud from a nonlinear pattern."""
    rng = np.random.default_rng(seed)
    matrix = rng.normal(size=(n, 8))
    logit = (
        -4
        + 1.5 * matrix[:, 0]
        + 1.2 * (matrix[:, 1] * matrix[:, 2] > 0.5)
        + np.sin(2 * matrix[:, 3])
        + 0.8 * (matrix[:, 4] > 1)
    )
    return matrix, (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)


def leaves_ms(booster: lgb.Booster) -> float:
    """Stand in for the measured cost: deterministic, and growing with trees x leaves."""
    return float(sum(tree["num_leaves"] for tree in booster.dump_model()["tree_info"])) / 1000


@pytest.fixture(scope="module")
def periods() -> tuple[Rows, Rows]:
    return rows(1, 6000), rows(2, 3000)


@pytest.fixture(scope="module")
def settings(tmp_path_factory: pytest.TempPathFactory) -> ModelSettings:
    """A real MLflow store: a SQLite file in a temporary data dir, created up front."""
    settings = ModelSettings(data_dir=Path(tmp_path_factory.mktemp("tuning")))
    connect(settings)
    return settings


def search(
    settings: ModelSettings,
    periods: tuple[Rows, Rows],
    *,
    budget_seconds: float,
    max_trials: int,
    explanation_cost: CostMeter | None = leaves_ms,
    explanation_cap_ms: float = np.inf,
) -> tuple[str, TuningResult]:
    """Run the search under a run of the caller's own; return that run's id and the result."""
    connect(settings)
    with mlflow.start_run() as run:
        result = tune(
            *periods,
            budget_seconds=budget_seconds,
            max_trials=max_trials,
            seed=3,
            base_params=BASE,
            explanation_cost=explanation_cost,
            explanation_cap_ms=explanation_cap_ms,
            max_rounds=ROUNDS,
            early_stopping=PATIENCE,
        )
    return run.info.run_id, result


def test_the_search_stops_within_its_time_budget(settings, periods) -> None:
    budget = 3.0
    started = time.monotonic()
    _, result = search(settings, periods, budget_seconds=budget, max_trials=500)
    elapsed = time.monotonic() - started
    slowest = max(t.seconds for t in result.trials)
    # One trial's slack, and a second for the MLflow writes of the parent and the last trial.
    assert elapsed < budget + slowest + 1.0, (elapsed, slowest)
    assert 1 < result.n_trials < 500
    cut = [t.number for t in result.trials if t.state == OUT_OF_TIME]
    assert cut in ([], [result.trials[-1].number])


def test_a_trial_still_boosting_at_the_deadline_is_cut(periods) -> None:
    started = time.monotonic()
    with pytest.raises(OutOfTime):
        # Thousands of rounds without early stopping: many seconds if it were not cut.
        fit_booster(BASE, *periods, max_rounds=5000, early_stopping=5000, deadline=started + 0.3)
    assert time.monotonic() - started < 1.5


def test_the_search_never_returns_worse_than_the_defaults(settings, periods) -> None:
    _, result = search(settings, periods, budget_seconds=120, max_trials=6)
    alone = fit_booster(BASE, *periods, max_rounds=ROUNDS, early_stopping=PATIENCE)
    default_ap = average_precision_score(periods[1][1], alone.predict(periods[1][0]))
    assert result.trials[0].params == {k.name: BASE[k.name] for k in SPACE}
    assert result.default_average_precision == pytest.approx(default_ap, rel=1e-12)
    scored = [t.ap for t in result.trials if t.state == COMPLETE]
    assert result.average_precision == max(scored) >= default_ap
    # The chosen parameters give the chosen model again.
    again = fit_booster(result.params, *periods, max_rounds=ROUNDS, early_stopping=PATIENCE)
    assert np.array_equal(again.predict(periods[1][0]), result.booster.predict(periods[1][0]))


def test_a_model_over_the_explanation_cap_is_never_chosen(settings, periods) -> None:
    _, free = search(settings, periods, budget_seconds=120, max_trials=8)
    winner = free.trials[free.best_trial]
    assert winner.explanation_ms is not None
    cap = winner.explanation_ms * 0.999
    _, capped = search(settings, periods, budget_seconds=120, max_trials=8, explanation_cap_ms=cap)
    # Eight trials are all of TPE's seeded start-up draws: the same parameters both times.
    assert [t.params for t in capped.trials] == [t.params for t in free.trials]
    over = capped.trials[winner.number]
    assert over.state == OVER_CAP and over.ap == winner.ap
    assert capped.best_trial != winner.number and capped.average_precision < winner.ap
    assert capped.explanation_ms <= cap
    for trial in capped.trials:
        assert trial.explanation_ms is not None
        assert (trial.state == OVER_CAP) == (trial.explanation_ms > cap)
    assert capped.n_pruned >= 1


def test_no_model_under_the_cap_is_an_error(settings, periods) -> None:
    with pytest.raises(TuningError, match="under the cap"):
        search(settings, periods, budget_seconds=60, max_trials=2, explanation_cap_ms=0.0)


def test_every_trial_is_a_nested_mlflow_run(settings, periods) -> None:
    # The real cost: exact TreeSHAP timed one validation order at a time.
    parent, result = search(
        settings, periods, budget_seconds=120, max_trials=4, explanation_cost=None
    )
    client = MlflowClient(settings.tracking_uri)
    experiment = client.get_run(parent).info.experiment_id
    runs = client.search_runs([experiment], f"tags.mlflow.parentRunId = '{parent}'")
    by_number = {int(r.data.tags["trial_number"]): r for r in runs}
    assert sorted(by_number) == [t.number for t in result.trials]
    for trial in result.trials:
        run = by_number[trial.number]
        assert run.data.tags["trial_state"] == trial.state
        assert run.data.metrics["valid_average_precision"] == pytest.approx(trial.ap)
        assert 0 < run.data.metrics["explanation_ms"] == pytest.approx(trial.explanation_ms)
        assert {k: float(v) for k, v in run.data.params.items() if k != "trees"} == pytest.approx(
            trial.params
        )
    summary = client.get_run(parent).data
    assert summary.metrics["tuning_trials"] == result.n_trials
    assert summary.metrics["tuning_best_valid_average_precision"] == pytest.approx(
        result.average_precision
    )


def test_without_an_active_run_the_search_opens_its_own(settings, periods) -> None:
    connect(settings)
    result = tune(
        *periods,
        budget_seconds=60,
        max_trials=2,
        seed=3,
        base_params=BASE,
        max_rounds=ROUNDS,
        early_stopping=PATIENCE,
        explanation_cost=leaves_ms,
    )
    assert mlflow.active_run() is None
    client = MlflowClient(settings.tracking_uri)
    experiment = client.get_experiment_by_name(EXPERIMENT)
    assert experiment is not None
    (own,) = client.search_runs([experiment.experiment_id], "attributes.run_name = 'tuning'")
    assert own.data.metrics["tuning_trials"] == result.n_trials == 2
    nested = client.search_runs(
        [own.info.experiment_id], f"tags.mlflow.parentRunId = '{own.info.run_id}'"
    )
    assert len(nested) == 2
