"""`ordershield train` with out-of-time period options, on the shipped history and its mapping."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from mlflow import MlflowClient
from typer.testing import CliRunner

from features.build import write_order_log
from models.registry import CHALLENGER, load_scorer
from service.cli import app, training_cmd
from service.settings import ServiceSettings
from tests.trained import HISTORY, MAPPING
from training import train as training_run
from training.sources.history import load_history

runner = CliRunner()
SPLIT = ["--train-start", "2024-01-10", "--train-end", "2024-02-08", "--valid-end", "2024-02-22"]


def arguments(*extra: str) -> list[str]:
    return ["train", "--data", str(HISTORY), "--mapping", str(MAPPING), *extra]


@pytest.fixture()
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point the command at an empty data dir, where no step may compute or fit anything."""
    monkeypatch.setenv("ORDERSHIELD_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("COLUMNS", "250")

    def heavy(*_: object, **__: object) -> None:
        raise AssertionError("features were computed or a model fitted before the checks")

    monkeypatch.setattr(training_cmd, "apply_features", heavy)
    monkeypatch.setattr(training_run, "training_frame", heavy)
    monkeypatch.setattr(training_run, "fit", heavy)
    return tmp_path


def refused(stderr: str, output: str, message: str, where: str = "first") -> None:
    """Check for one line on stderr, `error: ` then the message (first, or anywhere in it)."""
    assert stderr.startswith("error: ") and message in stderr, stderr
    assert stderr.startswith(f"error: {message}") or where == "anywhere", stderr
    assert stderr.count("\n") == 1 and "Traceback" not in output


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (
            ["--valid-end", "2024-02-20", "--test-start", "2024-02-18"],
            "--test-start: 2024-02-18 is before --valid-end 2024-02-20; the test period would "
            "overlap validation",
        ),
        (
            ["--train-end", "2024-02-10", "--valid-end", "2024-02-11"],
            "--gap: the validation period 2024-02-10 to 2024-02-11 has 88 legitimate label(s), "
            "none known before the test start 2024-02-11: lengthen --gap",
        ),
        (
            ["--valid-end", "2024-02-20", "--gap", "7d", "--test-start", "2024-02-23"],
            "--test-start: 2024-02-23 is only 3d after --valid-end 2024-02-20, less than --gap 7d",
        ),
        (["--gap", "-3d"], "--gap: must be 0 or more, got '-3d'"),
        (["--train-end", "25/07/2018"], "--train-end: cannot read '25/07/2018' as a date"),
        (["--valid-end", "2024-02-30"], "--valid-end: '2024-02-30' is not a calendar date"),
        (
            ["--test-end", "2024-04-01"],
            "--test-end: 2024-04-01 is outside the data (2024-01-08 to 2024-03-07, UTC)",
        ),
    ],
)
def test_a_leaking_or_impossible_split_is_one_line_exit_2_and_no_run(
    data_dir: Path, extra: list[str], message: str
) -> None:
    result = runner.invoke(app, arguments(*extra))
    assert result.exit_code == 2, result.output
    refused(result.stderr, result.output, message)
    assert not (data_dir / "mlflow.db").exists(), "no MLflow run may be created"
    assert not (data_dir / "orders.parquet").exists(), "the history is not even imported"


def test_the_order_log_in_place_is_checked_the_same_way(data_dir: Path) -> None:
    write_order_log(load_history(HISTORY, MAPPING), ServiceSettings(data_dir=data_dir))
    result = runner.invoke(app, ["train", "--train-end", "2024-02-10", "--valid-end", "2024-02-01"])
    assert result.exit_code == 2, result.output
    refused(
        result.stderr,
        result.output,
        "--valid-end: 2024-02-01 is not after --train-end 2024-02-10; the validation period "
        "would be empty",
    )
    assert not (data_dir / "mlflow.db").exists()


def test_a_bad_file_mapping_or_missing_log_is_a_message(data_dir: Path) -> None:
    missing = runner.invoke(
        app, ["train", "--data", str(data_dir / "no.csv"), "--mapping", str(MAPPING)]
    )
    wrong = data_dir / "mapping.yaml"
    wrong.write_text("columns:\n  order_id: order_number\n  when: order_time\n")
    mapped = runner.invoke(app, ["train", "--data", str(HISTORY), "--mapping", str(wrong)])
    alone = runner.invoke(app, ["train", "--data", str(HISTORY)])
    no_log = runner.invoke(app, ["train"])
    for result, message in (
        (missing, "history file not found"),
        (mapped, "unknown canonical field(s) 'when'"),
        (alone, "--mapping: --data and --mapping go together"),
        (no_log, f"no order log at {data_dir / 'orders.parquet'}"),
    ):
        assert result.exit_code == 2, result.output
        refused(result.stderr, result.output, message, where="anywhere")


def test_a_custom_split_trains_and_its_periods_are_on_the_card_and_in_the_listing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ORDERSHIELD_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("COLUMNS", "400")
    result = runner.invoke(app, arguments(*SPLIT, "--gap", "3d"), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    protocol = {
        "train": "2024-01-10 .. 2024-02-08",
        "valid": "2024-02-08 .. 2024-02-22",
        "gap": "3d",
        "test": "2024-02-25 .. 2024-03-07 23:57",
        "labels": "known before 2024-02-25",
    }
    for period, span in protocol.items():
        assert f"  {period:6s} {span}" in result.output
    assert "labels: left out " in result.output
    assert "their label was not known before the test start 2024-02-25" in result.output
    # The shipped history has no card or country data.
    missing = "  missing card_country, shipping_country: card_country_differs_from_shipping"
    assert missing in result.output and "features used (" in result.output

    settings = ServiceSettings(data_dir=tmp_path)
    card = load_scorer(settings, alias=CHALLENGER).card
    assert card.protocol == protocol
    assert card.dropped_features["card_country_differs_from_shipping"] == [
        "card_country",
        "shipping_country",
    ]
    assert not set(card.dropped_features) & set(card.features)

    client = MlflowClient(settings.tracking_uri, settings.tracking_uri)
    run_id = str(client.get_model_version_by_alias(settings.model_name, CHALLENGER).run_id)
    run = client.get_run(run_id)
    assert run.data.params["range_test"] == protocol["test"]
    # Training and validation learned only from labels known before the test start.
    orders = load_history(HISTORY, MAPPING)
    test_start = pd.Timestamp("2024-02-25", tz="UTC")
    known = (orders["label_known_at"] < test_start) | (orders["fraud_known_at"] < test_start)
    created = orders["created_at"]
    for name, start, end in (
        ("train", "2024-01-10", "2024-02-08"),
        ("valid", "2024-02-08", "2024-02-22"),
    ):
        rows = (created >= pd.Timestamp(start, tz="UTC")) & (created < pd.Timestamp(end, tz="UTC"))
        assert run.data.params[f"rows_{name}"] == str(int((rows & known).sum()))
    assert run.data.params["n_features_dropped"] == str(len(card.dropped_features))
    logged = json.loads(
        Path(client.download_artifacts(run_id, "features_dropped.json")).read_text()
    )
    assert logged == card.dropped_features

    listed = runner.invoke(app, ["models", "list"], catch_exceptions=False)
    assert listed.exit_code == 0, listed.output
    assert "2024-02-25 .. 2024-03-07 23:57" in listed.output
    assert "train 2024-01-10 .. 2024-02-08; valid 2024-02-08 .. 2024-02-22; gap 3d" in listed.output


def test_tuning_searches_on_validation_and_trains_with_the_best_parameters(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ORDERSHIELD_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("COLUMNS", "400")
    tune = ("--tune-minutes", "0.5", "--tune-trials", "3")
    result = runner.invoke(app, arguments(*SPLIT, *tune), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "tuning: 3 trials (" in result.output
    settings = ServiceSettings(data_dir=tmp_path)
    client = MlflowClient(settings.tracking_uri, settings.tracking_uri)
    run_id = str(client.get_model_version_by_alias(settings.model_name, CHALLENGER).run_id)
    assert client.get_run(run_id).data.params["tuning_trials"] == "3"


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--gap", "99999999999w"], "--gap: '99999999999w' is longer than 10000 days"),
        (["--fp-budget", "nan"], "--fp-budget: must be a number from 0 to 1, got nan"),
        (["--review-capacity", "inf"], "--review-capacity: must be a number from 0 to inf"),
        (["--tune-minutes", "1e5"], "--tune-minutes: must be a number from 0 to 1440, got 100000"),
    ],
)
def test_an_out_of_range_number_is_a_message(
    data_dir: Path, extra: list[str], message: str
) -> None:
    result = runner.invoke(app, ["train", *extra])
    refused(result.stderr, result.output, message)


def test_an_unreadable_order_log_is_a_message(data_dir: Path) -> None:
    (data_dir / "orders.parquet").write_bytes(b"not parquet at all")
    result = runner.invoke(app, ["train"])
    refused(result.stderr, result.output, "cannot read the order log")
