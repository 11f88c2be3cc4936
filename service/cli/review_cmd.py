"""`ordershield review …`: the review queue's figures, and expiring cases past their SLA."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from service.cli.db import database
from service.persistence.review_stats import review_stats
from service.settings import ServiceSettings

app = typer.Typer(help="The review queue: figures and upkeep.", no_args_is_help=True)
console = Console()


@app.command("stats")
def stats(
    hours: Annotated[float, typer.Option(help="window of decisions and outcomes, in hours")] = 24,
) -> None:
    """Print open cases, the oldest one's age, SLA breaches, pace per reviewer, overturns."""
    with database(ServiceSettings()) as engine:
        figures = review_stats(engine, timedelta(hours=hours))
    table = Table("figure", "value", title=f"review queue (decisions over the last {hours:g} h)")
    oldest = figures.oldest_open
    table.add_row("open cases", f"{figures.open_cases:,}")
    table.add_row("oldest open case", f"{oldest.total_seconds() / 3600:.1f} h" if oldest else "-")
    table.add_row("open past their SLA", f"{figures.past_sla:,}")
    table.add_row("expired", f"{figures.expired:,}")
    table.add_row("decided", f"{figures.decided:,}")
    share = figures.overturned_share
    table.add_row(
        "approved, then charged back",
        f"{figures.overturned} of {figures.approved} ({share:.1%})" if share is not None else "-",
    )
    for reviewer, pace in sorted(figures.per_reviewer_per_hour.items()):
        table.add_row(f"decisions per hour: {reviewer}", f"{pace:.2f}")
    console.print(table)
