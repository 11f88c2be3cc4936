"""`ordershield simulate --difficulty`: the chosen world is written, a typo is refused."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from service.cli import app
from training.sources.simulator import simulate_orders


def test_simulate_writes_the_hard_world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ORDERSHIELD_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("COLUMNS", "200")
    command = ["simulate", "--orders", "2000", "--days", "30", "--seed", "4"]
    result = CliRunner().invoke(app, [*command, "--difficulty", "hard"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "hard difficulty" in result.output
    written = pd.read_parquet(tmp_path / "orders.parquet")
    expected = simulate_orders(2000, seed=4, days=30, difficulty="hard")
    assert written["order_id"].tolist() == expected["order_id"].tolist()
    assert written["amount"].tolist() == expected["amount"].tolist()


def test_an_unknown_difficulty_is_a_usage_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ORDERSHIELD_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("COLUMNS", "200")
    result = CliRunner().invoke(app, ["simulate", "--orders", "100", "--difficulty", "extreme"])
    assert result.exit_code == 2
    assert "Invalid value for '--difficulty'" in result.output
    assert "'normal', 'hard'" in result.output
    assert isinstance(result.exception, SystemExit)
    assert not (tmp_path / "orders.parquet").exists()
