"""`ordershield train --review-capacity`: the review team's size sets `high`, on validation only."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from mlflow import MlflowClient
from typer.testing import CliRunner

from models.registry import CHALLENGER, load_scorer
from service.cli import app
from service.settings import ServiceSettings
from tests.trained import HISTORY, MAPPING
from training.dataset import training_frame
from training.thresholds import REVIEW_CAPACITY, Period, choose_within, cut_for_capacity

CAPACITY = 0.5  # cases per day; the default 0.9 % budget opens about one a day here


def test_a_small_review_team_binds_the_high_cut_point(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ORDERSHIELD_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("COLUMNS", "200")
    command = ["train", "--data", str(HISTORY), "--mapping", str(MAPPING)]
    result = CliRunner().invoke(
        app, [*command, "--review-capacity", str(CAPACITY)], catch_exceptions=False
    )
    assert result.exit_code == 0, result.output
    assert "candidate high cut points on validation" in result.output
    assert f"≤ {CAPACITY:g} cases/day ◀" in result.output
    assert "bound by the review capacity" in result.output and "realised on test" in result.output

    settings = ServiceSettings(data_dir=tmp_path)
    scorer = load_scorer(settings, alias=CHALLENGER)
    cuts = scorer.card.thresholds
    # Recompute the validation period independently: the cut point must come from it alone.
    # The README's default: validation from 60 % to 80 % of the period, to the minute.
    frame = training_frame(settings)
    created = pd.read_parquet(settings.orders_path, columns=["created_at"])["created_at"]
    start = created.min().floor("min")
    span = created.max().floor("min") + pd.Timedelta(minutes=1) - start
    train_end, valid_end = ((start + span * share).round("min") for share in (0.6, 0.8))
    rows = ((frame.created_at >= train_end) & (frame.created_at < valid_end)).to_numpy()
    valid = Period.between(
        scorer.score(frame.matrix[rows]), frame.labels[rows], train_end, valid_end
    )
    assert cuts.high == cut_for_capacity(valid, CAPACITY, cuts.critical)
    assert cuts == choose_within(valid, review_capacity=CAPACITY).thresholds
    assert 0 < valid.cases_per_day(cuts.high, cuts.critical) <= CAPACITY
    budget_row = next(r for r in scorer.card.tradeoffs if r.get("fp_budget") == 0.009)
    assert budget_row["threshold"] < cuts.high and budget_row["cases_per_day"] > CAPACITY

    client = MlflowClient(settings.tracking_uri, settings.tracking_uri)
    version = client.get_model_version_by_alias(settings.model_name, CHALLENGER)
    run = client.get_run(str(version.run_id))
    assert run.data.params["high_bound_by"] == REVIEW_CAPACITY
    assert float(run.data.params["review_capacity"]) == CAPACITY
    assert run.data.metrics["valid_cases_per_day_high"] <= CAPACITY
    assert "test_cases_per_day_high" in run.data.metrics
