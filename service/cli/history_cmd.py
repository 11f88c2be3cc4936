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
from features.schema import conform
from service.cli.db import database
from service.persistence.history import decided_orders
from service.scoring.schemas import canonical_of
from service.settings import ServiceSettings

app = typer.Typer(help="The order log training learns from.", no_args_is_help=True)
console = Console()
LABELS = {"fraud": 1, "legit": 0}
MS_COLUMNS = ("created_at", "customer_created_at")


def decided_frame(settings: ServiceSettings) -> pd.DataFrame:
    """Return the decided orders as canonical rows with their labels."""
    rows = []
    with database(settings) as engine:
        for order in decided_orders(engine):
            canonical = canonical_of(order.order, order.decided_at)
            if canonical is None:
                continue  # an erased order no longer holds what training reads
            rows.append(
                {
                    **canonical,
                    "payment_declined": order.declined,
                    "label": LABELS.get(order.label or ""),
                    "scenario": order.reason,
                    "label_known_at": order.label_known_at,
                }
            )
    frame = pd.DataFrame(rows)
    for column in MS_COLUMNS:  # the canonical record keeps times as epoch milliseconds
        if column in frame:
            frame[column] = pd.to_datetime(frame[column], unit="ms", utc=True)
    return frame


@app.command("sync")
def sync(
    log: Annotated[
        Path | None, typer.Option(help="the order log to extend; default: the data dir's")
    ] = None,
) -> None:
    """Append the decided orders and their latest labels to the order log, replacing older rows."""
    settings = ServiceSettings()
    decided = decided_frame(settings)
    if decided.empty:
        console.print("no decided orders to add")
        return
    path = log or settings.orders_path
    known = conform(pd.read_parquet(path)) if path.exists() else None
    merged = decided if known is None else pd.concat([known, conform(decided)])
    merged = conform(merged.drop_duplicates("order_id", keep="last"))
    if log is None:
        write_order_log(merged, settings)
    else:
        merged.to_parquet(log, index=False)
    labelled = int(decided["label"].notna().sum())
    console.print(
        f"{len(decided):,} decided orders ({labelled:,} labelled) in the order log {path}: "
        f"{len(merged):,} orders; run `ordershield features apply` and `ordershield train` next"
    )
