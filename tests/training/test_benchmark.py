"""The out-of-time run: what each fold learns from, its metrics, and the report it leaves."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import lightgbm as lgb
import numpy as np
import pandas as pd
import pytest
from sklearn.pipeline import Pipeline

from training import backtest
from training.backtest import (
    MODELS,
    Evaluation,
    evaluate_out_of_time,
    fit_baseline,
    split_validation,
)
from training.backtest_report import write_report
from training.dataset import TrainingFrame
from training.protocol import Plan, plan_folds
from training.ranking import METRICS, precision_at_k
from training.sources.simulator import simulate_orders
from training.train import fit

# The simulator's honest labels are known only once their chargeback window (60 to 90
# days) has closed, so the gap is long and the history longer than the folds need.
PLAN = Plan(train_days=21, gap_days=60, test_days=14, folds=2)


@dataclass(frozen=True)
class Learnt:
    """Rows and labels one model was given to learn from."""

    model: str
    order_ids: np.ndarray
    labels: np.ndarray


@pytest.fixture(scope="module")
def orders() -> pd.DataFrame:
    return simulate_orders(6_000, seed=2, days=110)


@pytest.fixture(scope="module")
def run(orders: pd.DataFrame) -> tuple[Evaluation, list[Learnt]]:
    """Evaluate once, recording every row and label the two models were actually fitted on."""
    learnt: list[Learnt] = []

    def spy_fit(frame: TrainingFrame, train: np.ndarray, valid: np.ndarray) -> lgb.Booster:
        rows = np.concatenate([train, valid])
        learnt.append(Learnt("lightgbm", frame.order_ids.to_numpy()[rows], frame.labels[rows]))
        return fit(frame, train, valid)

    def spy_baseline(frame: TrainingFrame, rows: np.ndarray) -> Pipeline:
        learnt.append(
            Learnt("logistic_regression", frame.order_ids.to_numpy()[rows], frame.labels[rows])
        )
        return fit_baseline(frame, rows)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(backtest, "fit", spy_fit)
        patch.setattr(backtest, "fit_baseline", spy_baseline)
        evaluation = evaluate_out_of_time(orders, PLAN, plan_folds(PLAN, orders), k=20)
    return evaluation, learnt


def test_no_model_learns_a_label_unknown_at_its_test_start(
    orders: pd.DataFrame, run: tuple[Evaluation, list[Learnt]]
) -> None:
    evaluation, learnt = run
    assert [x.model for x in learnt] == ["lightgbm", "logistic_regression"] * PLAN.folds
    by_id = orders.set_index("order_id")
    for number, result in enumerate(evaluation.folds):
        fold = result.fold
        for fitted in learnt[2 * number : 2 * number + 2]:
            rows = by_id.loc[fitted.order_ids]
            assert len(rows) > 0
            assert (rows["created_at"] >= fold.train_start).all()
            assert (rows["created_at"] < fold.train_end).all(), "nothing from the gap or test"
            final = rows["label"].to_numpy(dtype=float, na_value=np.nan)
            as_final = fitted.labels == final
            known_in_time = (rows["label_known_at"] < fold.test_start).to_numpy()
            # A fraud label later withdrawn may be learnt as fraud if flagged in time.
            withdrawn_in_time = (fitted.labels == 1) & (final == 0)
            withdrawn_in_time &= (rows["fraud_known_at"] < fold.test_start).to_numpy()
            assert (as_final & known_in_time | withdrawn_in_time).all()
            assert set(np.unique(fitted.labels)) == {0.0, 1.0}


def test_the_models_learn_from_the_same_labelled_rows(run: tuple[Evaluation, list[Learnt]]) -> None:
    evaluation, learnt = run
    for number, result in enumerate(evaluation.folds):
        trees, baseline = learnt[2 * number : 2 * number + 2]
        # LightGBM also holds out the validation rows it stops early on; the baseline does not.
        assert set(baseline.order_ids) < set(trees.order_ids)
        assert len(trees.order_ids) == result.counts["train_labelled"]
        assert len(trees.order_ids) - len(baseline.order_ids) == result.counts["validation_rows"]


def test_every_fold_reports_every_metric_and_the_spread(
    run: tuple[Evaluation, list[Learnt]],
) -> None:
    evaluation, _ = run
    summary = evaluation.summary()
    for model in MODELS:
        for metric in METRICS:
            values = [r.metrics[model][metric] for r in evaluation.folds]
            assert all(0.0 <= v <= 1.0 for v in values), (model, metric, values)
            assert summary[model][metric]["mean"] == pytest.approx(np.mean(values))
            assert summary[model][metric]["std"] == pytest.approx(np.std(values, ddof=1))
    for result in evaluation.folds:
        assert result.counts["test_fraud"] > 0 and result.counts["train_fraud"] > 0
        best = result.metrics["lightgbm"]["precision_at_k_best"]
        assert result.metrics["lightgbm"]["precision_at_k"] <= best


def test_precision_at_k_ranks_entities_by_their_riskiest_order_each_day() -> None:
    days = pd.Series(pd.to_datetime(["2026-01-01"] * 6 + ["2026-01-02"] * 3, utc=True))
    entities = pd.Series(["a", "a", "b", "c", "c", "d", "a", "b", "c"])
    fraud = np.array([0, 1, 1, 0, 0, 1, 0, 1, 0])
    scores = np.array([0.9, 0.1, 0.8, 0.45, 0.45, 0.2, 0.9, 0.5, 0.1])
    # Day 1: a (riskiest order 0.9; fraud through its other order) and b (0.8) lead c (at
    # most 0.45) and d: 2 of 2 caught. Day 2: a, then b, which is fraud: 1 of 2, though no
    # ranking could do better than 1 of 2 that day.
    assert precision_at_k(days, entities, fraud, scores, k=2) == (0.75, 0.75)
    # With room for three a day, d is missed on day 1 and empty slots still count.
    assert precision_at_k(days, entities, fraud, scores, k=3) == pytest.approx((0.5, 2 / 3))


def test_validation_holds_out_the_latest_fifth_of_each_class() -> None:
    created = pd.Series(pd.date_range("2026-01-01", periods=20, freq="D", tz="UTC"))
    labels = np.array([0.0] * 15 + [1.0] * 5)
    fit_rows, valid_rows = split_validation(np.arange(20), labels, created)
    assert list(valid_rows) == [12, 13, 14, 19]
    assert sorted([*fit_rows, *valid_rows]) == list(range(20))


def test_the_report_holds_the_metrics_escaped(
    tmp_path: Path, run: tuple[Evaluation, list[Learnt]]
) -> None:
    evaluation, _ = run
    files = write_report(evaluation, tmp_path / "out", "<b>shop</b>.csv")
    saved = json.loads(files.json.read_text())
    assert saved["summary"]["lightgbm"]["roc_auc"]["mean"] == pytest.approx(
        evaluation.summary()["lightgbm"]["roc_auc"]["mean"]
    )
    assert [f["test_start"] for f in saved["folds"]] == [
        r.fold.test_start.isoformat() for r in evaluation.folds
    ]
    assert len(saved["folds"][0]["pr_curves"]["logistic_regression"]["recall"]) > 1
    page = files.html.read_text()
    assert "&lt;b&gt;shop&lt;/b&gt;.csv" in page and "<b>shop</b>" not in page
    auc = evaluation.summary()["logistic_regression"]["roc_auc"]
    assert f"{auc['mean']:.3f} ± {auc['std']:.3f}" in page
    assert page.count("data:image/png;base64,") == 3
    assert "http://" not in page and "https://" not in page, "no external assets"
