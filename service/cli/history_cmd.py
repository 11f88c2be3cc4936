"""`ordershield history sync`: fold the orders the service decided, and their labels, into training.

Reviewers' outcomes, chargebacks and payment declines arrive at the service;
training reads the data dir's order log. This command appends every decided
order (as it arrived, in canonical form) with its latest label to that log, so
the next `ordershield features apply && ordershield train` learns from them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import pandas as pd
import typer
from rich.console import Console

from features.build import write_order_log
from features.catalog import current
from features.schema import conform
from service.cli.db import database
from service.scoring.history import decided_frame
from service.settings import ServiceSettings

app = typer.Typer(help="The order log training learns from.", no_args_is_help=True)
console = Console()


@app.command("sync")
def sync(
    log: Annotated[
        Path | None, typer.Option(help="the order log to extend; default: the data dir's")
    ] = None,
) -> None:
    """Append the decided orders and their latest labels to the order log, replacing older rows."""
    settings = ServiceSettings()
    with database(settings) as engine:
        decided = decided_frame(engine)
    if decided.empty:
        console.print("no decided orders to add")
        return
    path = log or settings.orders_path
    known = conform(pd.read_parquet(path), current().extra_columns) if path.exists() else None
    merged = (
        decided if known is None else pd.concat([known, conform(decided, current().extra_columns)])
    )
    merged = conform(merged.drop_duplicates("order_id", keep="last"), current().extra_columns)
    if log is None:
        write_order_log(merged, settings)
    else:
        merged.to_parquet(log, index=False)
    labelled = int(decided["label"].notna().sum())
    console.print(
        f"{len(decided):,} decided orders ({labelled:,} labelled) in the order log {path}: "
        f"{len(merged):,} orders; run `ordershield features apply` and `ordershield train` next"
    )
