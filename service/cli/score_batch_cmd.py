"""`ordershield score-batch`: a history file's orders scored as the service would have, streamed."""

from __future__ import annotations

import tempfile
import time
from collections import Counter
from contextlib import closing
from pathlib import Path
from typing import Annotated, TextIO

import typer

from explain.reasons import TOP_REASONS
from features.catalog import spec_hash
from features.schema import SchemaError
from models.registry import RegistryError, load_scorer, load_version
from models.scorer import Scorer, SpecMismatchError
from service.cli.errors import fail
from service.cli.packs import FeaturesOption, use_features
from service.scoring.batch import BatchScorer, BatchScoringError
from service.settings import ServiceSettings
from training.sources.history_stream import HistoryStream
from training.sources.mapping import HistoryImportError

CHUNK_ROWS = 50_000


def score_batch(
    data: Annotated[Path, typer.Option(help="your order history (CSV or parquet), in time order")],
    mapping: Annotated[Path, typer.Option(help="YAML mapping of your columns to OrderShield's")],
    out: Annotated[Path, typer.Option(help="the CSV of decisions to write")],
    version: Annotated[
        str | None, typer.Option(help="the model version to score with", show_default="champion")
    ] = None,
    reasons: Annotated[int, typer.Option(help=f"top reasons per order (0 to {TOP_REASONS})")] = 3,
    chunk_rows: Annotated[int, typer.Option(help="rows read and written at a time")] = CHUNK_ROWS,
    features: FeaturesOption = None,
) -> None:
    """Score every order of a file as the service would have at the order's time, streamed."""
    use_features(features)
    if not 0 <= reasons <= TOP_REASONS:
        fail(f"--reasons: must be from 0 to {TOP_REASONS}, got {reasons}")
    if chunk_rows < 1:
        fail(f"--chunk-rows: must be at least 1, got {chunk_rows}")
    settings = ServiceSettings()
    partial = out.with_name(f".{out.name}.partial")
    with tempfile.TemporaryDirectory(prefix="ordershield-score-batch-") as folder:
        # Every user error that needs no reading of the rows is found before the heavy work.
        try:
            history = HistoryStream(data, mapping, chunk_rows, Path(folder))
            handle = _open(out, partial)
        except HistoryImportError as error:
            fail(str(error))
        try:
            with handle:
                scorer = _scorer(settings, version)
                batch = BatchScorer(scorer, settings, Path(folder), reasons, history.labelled)
                with closing(batch):
                    tiers, seconds = _write(batch, history, handle, data.name)
        except BaseException:
            partial.unlink(missing_ok=True)  # a run stopped part way leaves no output
            raise
    partial.replace(out)
    _report(tiers, seconds, scorer, out)


def _write(
    batch: BatchScorer, history: HistoryStream, handle: TextIO, name: str
) -> tuple[Counter[str], float]:
    """Score the file a chunk at a time, appending each chunk's decisions; return tiers, time."""
    started, tiers = time.perf_counter(), Counter[str]()
    try:
        for number, chunk in enumerate(history):
            decisions = batch.score(chunk)
            decisions.to_csv(handle, header=number == 0, index=False, lineterminator="\n")
            tiers.update(decisions["tier"])
    except (HistoryImportError, SchemaError) as error:
        fail(str(error))  # a row found wrong further down the file
    except BatchScoringError as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(1) from None
    if not tiers:
        fail(f"{name} has no orders")
    return tiers, time.perf_counter() - started


def _open(out: Path, partial: Path) -> TextIO:
    """Open the output's partial file, renamed to `out` once every order is scored."""
    if out.is_dir():
        fail(f"--out: {out} is a folder; name the CSV file to write")
    try:
        return partial.open("w", encoding="utf-8", newline="")
    except OSError as error:
        fail(f"--out: cannot write {out}: {error.strerror}")


def _scorer(settings: ServiceSettings, version: str | None) -> Scorer:
    """Load the champion, or the version asked for; it must fit the running feature spec."""
    try:
        if version is None:
            return load_scorer(settings)
        scorer = load_version(settings, version)
        scorer.check_spec(spec_hash())
        return scorer
    except (RegistryError, SpecMismatchError) as error:
        fail(str(error))


def _report(tiers: Counter[str], seconds: float, scorer: Scorer, out: Path) -> None:
    orders = sum(tiers.values())
    rate = orders / seconds if seconds > 0 else 0.0
    shown = ", ".join(f"{tier} {tiers[tier]}" for tier in ("low", "medium", "high", "critical"))
    typer.echo(
        f"scored {orders} order(s) with model {scorer.name} v{scorer.version} in {seconds:.1f} s "
        f"({rate:.0f} orders/s): {shown}\nwrote {out}"
    )
