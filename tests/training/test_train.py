"""Training on a user's own imported history: out of time, honest metrics, MLflow run."""

from __future__ import annotations

import mlflow
import numpy as np
from mlflow import MlflowClient

from tests.trained import Trained


def test_the_imported_history_trains_a_useful_model(trained: Trained) -> None:
    metrics = trained.result.test_metrics
    assert metrics["roc_auc"] > 0.8
    assert 0 < metrics["average_precision"] <= 1
    assert 0 <= metrics["recall_at_fpr_1pct"] <= 1
    assert metrics["honest_flagged_high"] < 0.05


def test_features_the_import_lacks_are_left_out(trained: Trained) -> None:
    features = trained.result.card.features
    # The shipped history has no card or country columns: no feature may pretend otherwise.
    assert "card_country_differs_from_shipping" not in features
    assert "ip_country_differs_from_card" not in features
    assert "device_accounts_1h" in features and "payment_declines_1h" not in features


def test_periods_follow_each_other(trained: Trained) -> None:
    split = trained.result.split
    assert split.start < split.train_end < split.valid_end < split.end
    cuts = trained.result.card.thresholds
    assert cuts.medium <= cuts.high <= cuts.critical


def test_the_run_logs_what_an_audit_needs(trained: Trained) -> None:
    mlflow.set_tracking_uri(trained.settings.tracking_uri)
    client = MlflowClient(trained.settings.tracking_uri)
    run = client.get_run(trained.result.run_id)
    assert run.data.params["spec_hash"] == trained.result.card.spec_hash
    assert {"threshold_high", "range_train", "range_test"} <= set(run.data.params)
    assert run.data.metrics["explanation_ms"] > 0
    artifacts = {a.path for a in client.list_artifacts(trained.result.run_id)}
    assert {"features.json", "tradeoffs.json", "shap_summary.png", "pr_curve_test.png"} <= artifacts
    tradeoffs = trained.result.card.tradeoffs
    recalls = [row["fraud_recall"] for row in tradeoffs]
    assert recalls == sorted(recalls) and np.isfinite(recalls).all()
