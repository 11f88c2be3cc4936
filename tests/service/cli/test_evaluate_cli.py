"""`ordershield evaluate` on a simulated history exported as a user's CSV and mapping."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from features.schema import COLUMN_NAMES
from service.cli import app, evaluate_cmd
from training.sources.simulator import simulate_orders

runner = CliRunner()
# Honest simulated orders count as honest only after their 60-to-90-day chargeback window.
WINDOWS = ["--train-days", "21", "--gap-days", "60", "--test-days", "14", "--folds", "2"]


@pytest.fixture(scope="module")
def export(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """Write a simulated history as a CSV with the mapping YAML a user would write for it."""
    folder = tmp_path_factory.mktemp("export")
    data, mapping = folder / "orders.csv", folder / "mapping.yaml"
    simulate_orders(6_000, seed=2, days=110).to_csv(data, index=False)
    mapping.write_text("columns:\n" + "".join(f"  {name}: {name}\n" for name in COLUMN_NAMES))
    return data, mapping


def arguments(export: tuple[Path, Path], out: Path, *extra: str) -> list[str]:
    data, mapping = export
    return ["evaluate", "--data", str(data), "--mapping", str(mapping), "--out", str(out), *extra]


def test_evaluate_writes_the_report_and_prints_the_summary(
    tmp_path: Path, export: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "200")
    out = tmp_path / "report"
    result = runner.invoke(app, arguments(export, out, *WINDOWS, "--k", "20"))
    assert result.exit_code == 0, result.output
    saved = json.loads((out / "evaluation.json").read_text())
    assert saved["protocol"] | {"start": None} == {
        "train_days": 21,
        "gap_days": 60,
        "test_days": 14,
        "folds": 2,
        "step_days": 14,
        "start": None,
        "exclude_known_fraud": False,
    }
    assert len(saved["folds"]) == 2
    for fold in saved["folds"]:
        gap = pd.Timestamp(fold["test_start"]) - pd.Timestamp(fold["train_end"])
        assert gap == pd.Timedelta(days=60)
        assert fold["counts"]["train_labelled"] < fold["counts"]["train_orders"]
    for model in ("lightgbm", "logistic_regression"):
        auc = saved["summary"][model]["roc_auc"]
        shown = f"{auc['mean']:.3f} ± {auc['std']:.3f}"
        assert shown in result.stdout
        assert shown in (out / "report.html").read_text()
    assert "precision@20 per day" in result.stdout
    assert "fold 2: train 2026-01-15 .. 2026-02-05, test 2026-04-06 .. 2026-04-20" in result.stdout


def test_known_fraud_entities_are_left_out_of_the_test_days(
    tmp_path: Path, export: tuple[Path, Path]
) -> None:
    out, again = tmp_path / "all", tmp_path / "left-out"
    assert runner.invoke(app, arguments(export, out, *WINDOWS)).exit_code == 0
    result = runner.invoke(app, arguments(export, again, *WINDOWS, "--exclude-known-fraud"))
    assert result.exit_code == 0, result.output
    every = json.loads((out / "evaluation.json").read_text())["folds"]
    kept = json.loads((again / "evaluation.json").read_text())["folds"]
    assert len(every) == len(kept) == 2
    for whole, part in zip(every, kept, strict=True):
        left_out = part["counts"]["test_left_out_known_fraud"]
        assert left_out > 0 and whole["counts"]["test_left_out_known_fraud"] == 0
        assert part["counts"]["test_orders"] == whole["counts"]["test_orders"] - left_out


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--start", "25/07/2018"], "--start: cannot read '25/07/2018' as a date: expected an ISO"),
        (["--start", "2026-01-05T10:00"], "--start: '2026-01-05T10:00' has no time zone"),
        (["--start", "2026-02-30"], "--start: '2026-02-30' is not a calendar date"),
        (
            ["--start", "2025-12-01"],
            "--start: 2025-12-01 is outside the data (2026-01-01 to 2026-04-20, UTC)",
        ),
        (["--gap-days", "-3"], "--gap-days: must be 0 or more days"),
        (["--folds", "4"], "--folds: 4 fold(s) of 21+60+14 days"),
        (["--gap-days", "5"], "--gap-days: fold 1: 0 legitimate label(s)"),
        (["--test-days", "0"], "--test-days: must be at least 1"),
        (["--step-days", "7"], "--step-days: 7 is shorter than test_days 14"),
        (["--k", "0"], "--k: must be at least 1"),
    ],
)
def test_a_bad_option_is_one_line_and_exit_code_2_before_any_heavy_work(
    tmp_path: Path,
    export: tuple[Path, Path],
    monkeypatch: pytest.MonkeyPatch,
    extra: list[str],
    message: str,
) -> None:
    def heavy(*_: object, **__: object) -> None:
        raise AssertionError("features and models were started before the options were checked")

    monkeypatch.setattr(evaluate_cmd, "evaluate_out_of_time", heavy)
    result = runner.invoke(app, arguments(export, tmp_path / "out", *WINDOWS, *extra))
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith(f"error: {message}")
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.output
    assert not (tmp_path / "out").exists()


def test_a_bad_file_or_mapping_is_a_message_too(
    tmp_path: Path, export: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "200")
    data, mapping = export
    missing = runner.invoke(app, arguments((tmp_path / "nope.csv", mapping), tmp_path / "out"))
    assert missing.exit_code == 2 and "error: history file not found" in missing.stderr
    wrong = tmp_path / "mapping.yaml"
    wrong.write_text("columns:\n  order_id: order_id\n  when: created_at\n")
    mapped = runner.invoke(app, arguments((data, wrong), tmp_path / "out"))
    assert mapped.exit_code == 2 and "unknown canonical field(s) 'when'" in mapped.stderr
    for result in (missing, mapped):
        assert result.stderr.count("\n") == 1 and "Traceback" not in result.output


def test_an_output_folder_that_cannot_be_made_is_a_message(
    tmp_path: Path, export: tuple[Path, Path]
) -> None:
    taken = tmp_path / "taken"
    taken.write_text("a file, not a folder")
    result = runner.invoke(app, arguments(export, taken, *WINDOWS))
    assert result.exit_code == 2 and result.stderr.startswith(
        f"error: --out: cannot create {taken}"
    )
