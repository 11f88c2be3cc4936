"""`ordershield score-batch`: a history file scored as the service would have, order by order."""

from __future__ import annotations

from pathlib import Path
from typing import Any, cast

import lightgbm as lgb
import mlflow
import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from features.catalog import spec_hash
from models.registry import connect, load_version, log_scorer, promote
from models.scorer import ModelCard, Thresholds
from service.cli import app, score_batch_cmd
from service.settings import ServiceSettings
from tests.packs import EXAMPLE_PACK, pack_in_use
from tests.service.clients import api_client
from tests.service.conftest import prepared_settings
from tests.service.shop import replay

runner = CliRunner()
ORDERS = 400
# The features a later event moves: the test's champion scores mostly on them.
MOVED_BY_LATER_EVENTS = ("fraud", "declines", "labelled")
# With the example pack, the terminal's features drive the champion too.
PACK_DRIVERS = (*MOVED_BY_LATER_EVENTS, "terminal_")
CUTS = Thresholds(0.1, 0.2, 0.5)
CHUNK = 7
TIES = (100, CHUNK * 22 - 1)  # the second pair straddles two chunks


@pytest.fixture(scope="module")
def history(stream: pd.DataFrame) -> pd.DataFrame:
    """A busy slice of the stream whose labels are known within it, some fraud ones withdrawn."""
    orders = stream.iloc[1000 : 1000 + ORDERS].reset_index(drop=True)
    rng = np.random.default_rng(0)
    labelled = orders["label"].notna().to_numpy()
    delays = rng.integers(60_000, 6 * 3_600_000, labelled.sum())
    orders.loc[labelled, "label_known_at"] = orders.loc[labelled, "created_at"] + pd.to_timedelta(
        delays, unit="ms"
    )
    # Disputes: honest orders charged back within the hour, half of them won an hour later.
    disputed = rng.choice(np.flatnonzero((orders["label"] == 0).to_numpy()), 30, replace=False)
    flagged = orders.loc[disputed, "created_at"] + pd.to_timedelta(
        rng.integers(60_000, 3_600_000, len(disputed)), unit="ms"
    )
    orders.loc[disputed, "label"] = 1
    orders.loc[disputed, "label_known_at"] = flagged
    won = disputed[::2]
    orders.loc[won, "fraud_known_at"] = orders.loc[won, "label_known_at"]
    orders.loc[won, "label_known_at"] += pd.Timedelta(hours=1)
    orders.loc[won, "label"] = 0
    # Orders placed at the same moment, the later id first: within a chunk and across two.
    for first in TIES:
        orders.at[first + 1, "created_at"] = cast(pd.Timestamp, orders.at[first, "created_at"])
        ids = orders.loc[[first, first + 1], "order_id"].to_numpy()
        orders.loc[[first, first + 1], "order_id"] = ids[::-1]
    return orders


def outcome_driven_champion(
    settings: ServiceSettings, words: tuple[str, ...] = MOVED_BY_LATER_EVENTS
) -> None:
    """Register and promote a booster whose score moves with the features named by `words`.

    By default declines, labels and fraud counts. Trained on small counts, so its splits
    fall between the values real counts take: a decline or a label the replay missed
    changes the score of every later order it touches.
    """
    names = load_version(settings, "1").card.features
    rng = np.random.default_rng(1)
    matrix = rng.poisson(0.5, size=(4000, len(names))).astype(float)
    drivers = [j for j, n in enumerate(names) if any(w in n for w in words)]
    assert len(drivers) >= 5, names
    labels = matrix[:, drivers].sum(axis=1) + rng.normal(scale=0.5, size=4000) > 0.5 * len(drivers)
    parameters = {"objective": "binary", "num_leaves": 7, "verbose": -1, "num_threads": 1}
    booster = lgb.train(parameters, lgb.Dataset(matrix, labels, feature_name=names), 30)
    connect(settings)
    with mlflow.start_run():
        version = log_scorer(booster, ModelCard(names, CUTS, spec_hash(), [], CUTS), settings)
    promote(settings, version)


def serve(
    folder: Path, orders: pd.DataFrame, words: tuple[str, ...] = MOVED_BY_LATER_EVENTS
) -> tuple[ServiceSettings, dict[str, dict[str, Any]]]:
    """Post a stream to the API in time order, its labels at their known times; its answers."""
    settings = prepared_settings(folder, orders, empty_store=True)
    outcome_driven_champion(settings, words)  # version 2, the champion
    answers: dict[str, dict[str, Any]] = {}
    with api_client(settings) as client:
        for event, response in replay(client, orders):
            if event[2] == "order":
                answers[cast(str, orders.at[event[3], "order_id"])] = response.json()
    return settings, answers


@pytest.fixture(scope="module")
def served(
    tmp_path_factory: pytest.TempPathFactory, history: pd.DataFrame
) -> tuple[ServiceSettings, dict[str, dict[str, Any]]]:
    """The history posted to the API, and its answers."""
    return serve(tmp_path_factory.mktemp("served"), history)


def export(folder: Path, orders: pd.DataFrame) -> tuple[Path, Path]:
    """Write a stream as a CSV export (and parquet beside it) and the mapping of its columns."""
    data, mapping = folder / "orders.csv", folder / "mapping.yaml"
    orders.to_csv(data, index=False)
    orders.to_parquet(folder / "orders.parquet", index=False)
    mapping.write_text("columns:\n" + "".join(f"  {name}: {name}\n" for name in orders.columns))
    return data, mapping


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory, history: pd.DataFrame) -> tuple[Path, Path]:
    """The history as an export and its mapping."""
    return export(tmp_path_factory.mktemp("export"), history)


def score_batch(
    settings: ServiceSettings, data: Path, mapping: Path, out: Path, *extra: str
) -> Any:
    """Run the command on a data dir; return its result."""
    arguments = ["score-batch", "--data", str(data), "--mapping", str(mapping), "--out", str(out)]
    env = {"ORDERSHIELD_DATA_DIR": str(settings.data_dir)}
    return runner.invoke(app, [*arguments, *extra], env=env)


@pytest.fixture(scope="module")
def scored(
    tmp_path_factory: pytest.TempPathFactory,
    served: tuple[ServiceSettings, dict[str, dict[str, Any]]],
    files: tuple[Path, Path],
) -> Path:
    """The command's output for the whole file read as one chunk."""
    out = tmp_path_factory.mktemp("scored") / "scores.csv"
    result = score_batch(served[0], *files, out)
    assert result.exit_code == 0, result.output
    assert f"scored {ORDERS} order(s) with model ordershield v2" in result.stdout
    return out


def read(out: Path) -> pd.DataFrame:
    """Read an output back as the text it holds (`float` reads a score back exactly)."""
    return pd.read_csv(out, dtype=str, keep_default_na=False)


def mismatches(
    table: pd.DataFrame, answers: dict[str, dict[str, Any]]
) -> list[tuple[str, dict[str, Any], dict[str, Any]]]:
    """Return each output row that differs from the service's answer to its order."""
    found = []
    for row in table.itertuples(index=False):
        answer = answers[str(row.order_id)]
        reasons = [(r["feature"], r["text"]) for r in answer["reasons"][:3]]
        reasons += [("", "")] * (3 - len(reasons))
        mine = {
            "score": float(str(row.score)),
            "tier": row.tier,
            "action": row.action,
            "freeze": row.freeze,
            "model": row.model_version,
            "reasons": [
                (getattr(row, f"reason_{k}"), getattr(row, f"reason_{k}_text")) for k in (1, 2, 3)
            ],
        }
        theirs = {
            "score": answer["score"],
            "tier": answer["tier"],
            "action": answer["action"],
            "freeze": str(answer["stock"]["freeze"]).lower(),
            "model": answer["model"]["version"],
            "reasons": reasons,
        }
        if mine != theirs:
            found.append((str(row.order_id), mine, theirs))
    return found


def test_every_order_gets_the_answer_the_service_gave_at_its_time(
    served: tuple[ServiceSettings, dict[str, dict[str, Any]]],
    history: pd.DataFrame,
    scored: Path,
) -> None:
    _, answers = served
    table = read(scored)
    assert list(table["order_id"]) == list(history["order_id"])
    wrong = mismatches(table, answers)
    assert not wrong, wrong[:3]
    # Tiers and actions varied, and the file's labels are passed on.
    assert set(table["tier"]) == {"low", "medium", "high", "critical"}
    assert set(table["action"]) == {"approve", "review", "decline"}
    assert "true" in set(table["freeze"])
    assert list(table["label"]) == [str(v) if pd.notna(v) else "" for v in history["label"]]


def test_with_a_feature_pack_every_order_gets_the_service_answer_too(
    tmp_path: Path, history: pd.DataFrame
) -> None:
    # The pack's columns, in the file and sent as the orders' attributes: four busy terminals.
    orders = history.assign(
        terminal_id="t" + (history.index % 4).astype(str),
        channel=np.where(history.index % 3 == 0, "app", "web"),
    )
    with pack_in_use(EXAMPLE_PACK):
        settings, answers = serve(tmp_path / "served", orders, PACK_DRIVERS)
        champion = load_version(settings, "2").card.features
        data, mapping = export(tmp_path, orders)
    out = tmp_path / "scores.csv"
    with pack_in_use(None):  # the command takes the pack from its option alone
        result = score_batch(settings, data, mapping, out, "--features", str(EXAMPLE_PACK))
    assert result.exit_code == 0, result.output
    assert "terminal_fraud_30d" in champion and "terminal_orders_1d" in champion
    table = read(out)
    assert list(table["order_id"]) == list(orders["order_id"])
    wrong = mismatches(table, answers)
    assert not wrong, wrong[:3]
    # The terminals' features decided some orders: they are among the reasons of answers.
    named = {str(r["feature"]) for answer in answers.values() for r in answer["reasons"]}
    assert any(name.startswith("terminal_") for name in named), named


def test_a_file_read_in_small_chunks_gives_the_same_output(
    served: tuple[ServiceSettings, dict[str, dict[str, Any]]],
    files: tuple[Path, Path],
    scored: Path,
    tmp_path: Path,
) -> None:
    data, mapping = files
    out = tmp_path / "chunked.csv"
    parquet = data.with_suffix(".parquet")
    result = score_batch(served[0], parquet, mapping, out, "--chunk-rows", str(CHUNK))
    assert result.exit_code == 0, result.output
    assert out.read_bytes() == scored.read_bytes()


def test_another_version_and_fewer_reasons(
    served: tuple[ServiceSettings, dict[str, dict[str, Any]]],
    files: tuple[Path, Path],
    tmp_path: Path,
) -> None:
    out = tmp_path / "v1.csv"
    result = score_batch(served[0], *files, out, "--version", "1", "--reasons", "1")
    assert result.exit_code == 0, result.output
    table = read(out)
    assert set(table["model_version"]) == {"1"}
    assert [c for c in table.columns if c.startswith("reason")] == ["reason_1", "reason_1_text"]


def one_line_error(result: Any, message: str) -> None:
    """Assert the command stopped with a user error: exit status 2, the message, no traceback."""
    assert result.exit_code == 2, result.output
    assert result.stderr.splitlines()[-1].startswith(f"error: {message}"), result.stderr
    assert "Traceback" not in result.output


BAD_INPUTS = {
    "no data file": "history file not found",
    "not csv or parquet": "cannot read orders.txt: unsupported file type '.txt'",
    "no mapping file": "cannot read mapping missing.yaml",
    "unknown field": "mapping mapping.yaml: columns: unknown canonical field(s) 'when'",
    "column not in file": "column 'fingerprint' (mapped to device_id) not in orders.csv",
    "no output folder": "--out: cannot write",
    "output is a folder": "--out: {folder} is a folder; name the CSV file to write",
    "too many reasons": "--reasons: must be from 0 to 5, got 6",
    "no rows per chunk": "--chunk-rows: must be at least 1, got 0",
}


def bad_inputs(case: str, folder: Path, files: tuple[Path, Path]) -> list[Path | str]:
    """Return data, mapping, output and options with one thing wrong."""
    data, mapping = files
    out: Path = folder / "scores.csv"
    extra: list[str] = []
    if case == "no data file":
        data = folder / "missing.csv"
    elif case == "not csv or parquet":
        data = folder / "orders.txt"
        data.write_text("order_id\n")
    elif case == "no mapping file":
        mapping = folder / "missing.yaml"
    elif case in ("unknown field", "column not in file"):
        mapping = folder / "mapping.yaml"
        text = files[1].read_text()
        if case == "unknown field":
            text += "  when: created_at\n"
        mapping.write_text(text.replace("device_id: device_id", "device_id: fingerprint"))
    elif case == "no output folder":
        out = folder / "no" / "such" / "scores.csv"
    elif case == "output is a folder":
        out = folder
    else:
        extra = ["--reasons", "6"] if case == "too many reasons" else ["--chunk-rows", "0"]
    return [data, mapping, out, *extra]


@pytest.mark.parametrize(("case", "message"), BAD_INPUTS.items(), ids=list(BAD_INPUTS))
def test_a_bad_file_mapping_or_output_is_one_line_before_any_heavy_work(
    tmp_path: Path,
    files: tuple[Path, Path],
    monkeypatch: pytest.MonkeyPatch,
    case: str,
    message: str,
) -> None:
    def heavy(*_: object, **__: object) -> None:
        raise AssertionError("the model or the replay started before the inputs were checked")

    monkeypatch.setattr(score_batch_cmd, "BatchScorer", heavy)
    monkeypatch.setattr(score_batch_cmd, "load_scorer", heavy)
    data, mapping, out, *extra = bad_inputs(case, tmp_path, files)
    settings = ServiceSettings(data_dir=tmp_path / "data")
    result = score_batch(settings, Path(data), Path(mapping), Path(out), *map(str, extra))
    one_line_error(result, message.format(folder=tmp_path))
    assert result.stderr.count("\n") == 1
    assert not (tmp_path / "scores.csv").exists() and not list(tmp_path.glob(".*.partial"))
    written = Path(out)
    assert written.is_dir() or not written.exists()
    assert not written.parent.exists() or not list(written.parent.glob(".*.partial"))


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (
            "swap rows 250 and 251",
            "column 'created_at' (mapped to created_at), row 251: 2026-01-",
        ),
        (
            "swap rows 100 and 101",  # across the boundary of the first two chunks
            "column 'created_at' (mapped to created_at), row 101: 2026-01-",
        ),
        ("repeat row 30 at row 230", "column 'order_id' (mapped to order_id), row 230: order id"),
        ("bad amount at row 333", "column 'amount' (mapped to amount), row 333: cannot parse 'x'"),
        ("no rows", "orders.csv has no orders"),
    ],
)
def test_a_row_found_wrong_further_down_stops_the_run_and_leaves_no_output(
    served: tuple[ServiceSettings, dict[str, dict[str, Any]]],
    files: tuple[Path, Path],
    tmp_path: Path,
    edit: str,
    message: str,
) -> None:
    data, mapping = files
    table = pd.read_csv(data, dtype=str, keep_default_na=False)  # row n is at index n - 1
    if edit.startswith("swap"):
        first = int(edit.split()[2]) - 1
        table.iloc[[first, first + 1]] = table.iloc[[first + 1, first]].to_numpy()
    elif edit.startswith("repeat"):
        table.at[229, "order_id"] = str(table.at[29, "order_id"])
    elif edit == "no rows":
        table = table.iloc[:0]
    else:
        table.loc[332, "amount"] = "x"
    edited, out = tmp_path / "orders.csv", tmp_path / "scores.csv"
    table.to_csv(edited, index=False)
    result = score_batch(served[0], edited, mapping, out, "--chunk-rows", "100")
    one_line_error(result, message.format(folder=tmp_path))
    if edit.startswith("swap"):
        assert "is before row" in result.stderr and "sort it by created_at" in result.stderr
    if edit.startswith("repeat"):
        assert result.stderr.rstrip().endswith("already appears in row 30")
    assert not out.exists() and not list(tmp_path.glob(".*.partial"))
