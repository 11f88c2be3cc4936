"""`ordershield evaluate`: sliding out-of-time folds on a history, LightGBM against a baseline."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

import typer
from rich.console import Console
from rich.table import Table

from features.schema import SchemaError
from service.cli.errors import fail, fail_option
from service.cli.packs import FeaturesOption, use_features
from training.backtest import MODELS, Evaluation, entity_keys, evaluate_out_of_time
from training.backtest_report import summary_rows, write_report
from training.protocol import Fold, Plan, ProtocolError, parse_moment, plan_folds, shown
from training.sources.history import HistoryImportError, load_history

console = Console()
Entity = Literal["payment", "customer"]


def evaluate(
    data: Annotated[Path, typer.Option(help="your labelled order history (CSV or parquet)")],
    mapping: Annotated[Path, typer.Option(help="YAML mapping of your columns to OrderShield's")],
    out: Annotated[Path, typer.Option(help="folder for report.html and evaluation.json")],
    train_days: Annotated[int, typer.Option(help="days in each training window")] = Plan.train_days,
    gap_days: Annotated[
        int, typer.Option(help="label-maturity gap in days between training and test")
    ] = Plan.gap_days,
    test_days: Annotated[int, typer.Option(help="days in each test window")] = Plan.test_days,
    folds: Annotated[int, typer.Option(help="how many folds")] = Plan.folds,
    step_days: Annotated[
        int | None, typer.Option(help="days between folds", show_default="--test-days")
    ] = None,
    start: Annotated[
        str | None,
        typer.Option(
            help="first training day: an ISO 8601 date (midnight UTC) or date and time with a "
            "zone, e.g. 2026-03-01T08:00+01:00",
            show_default="the data's first day",
        ),
    ] = None,
    k: Annotated[int, typer.Option("--k", help="entities investigators check per day")] = 100,
    entity: Annotated[
        Entity, typer.Option(help="what precision@k ranks: payment accounts or customers")
    ] = "payment",
    exclude_known_fraud: Annotated[
        bool,
        typer.Option(
            help="leave out of each test day the orders of --entity keys with a fraud label "
            "known before that day (blocked already), as published protocols do"
        ),
    ] = False,
    features: FeaturesOption = None,
) -> None:
    """Evaluate out of time: sliding folds, LightGBM against logistic regression, HTML report."""
    use_features(features)
    # Every user error is found here, before features are computed or a model is fitted.
    try:
        moment = None if start is None else parse_moment(start, "start")
        plan = Plan(train_days, gap_days, test_days, folds, step_days, moment, exclude_known_fraud)
        plan.check()
        if k < 1:
            raise ProtocolError("k", f"must be at least 1, got {k}")
        orders = load_history(data, mapping)
        planned = plan_folds(plan, orders)
        entity_keys(orders, entity)
        out.mkdir(parents=True, exist_ok=True)
    except ProtocolError as error:
        fail_option(error)
    except (HistoryImportError, SchemaError) as error:
        fail(str(error))
    except OSError as error:
        fail(f"--out: cannot create {out}: {error.strerror}")
    evaluation = evaluate_out_of_time(
        orders,
        plan,
        planned,
        k,
        entity,
        progress=lambda step: console.print(f"[dim]… {step}[/dim]"),
    )
    files = write_report(evaluation, out, data.name)
    print_folds([result.fold for result in evaluation.folds])
    console.print(summary_table(evaluation))
    console.print(f"report: {files.html}\nfigures: {files.json}", markup=False)


def print_folds(folds: list[Fold]) -> None:
    """Print each fold's training and test window."""
    for fold in folds:
        console.print(
            f"  fold {fold.number}: train {shown(fold.train_start)} .. {shown(fold.train_end)}, "
            f"test {shown(fold.test_start)} .. {shown(fold.test_end)}"
        )


def summary_table(evaluation: Evaluation) -> Table:
    """Return each metric's mean ± standard deviation over folds, per model."""
    table = Table(
        "metric", *MODELS.values(), title=f"mean ± std over {len(evaluation.folds)} fold(s)"
    )
    for row in summary_rows(evaluation):
        table.add_row(row["label"], *row["cells"])
    return table
