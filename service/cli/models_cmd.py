"""`ordershield models`: list registered versions and promote one to champion."""

from __future__ import annotations

from datetime import UTC, datetime

import typer
from rich.console import Console
from rich.table import Table

from models.registry import RegistryError, list_versions, promote
from service.settings import ServiceSettings

app = typer.Typer(help="Registered model versions in MLflow.", no_args_is_help=True)
console = Console()
HEADLINE = ("test_roc_auc", "test_average_precision", "test_recall_at_fpr_1pct", "test_recall_high")


@app.command("list")
def list_command() -> None:
    """Show every version with its aliases and headline held-out metrics."""
    table = Table("version", "aliases", "created", *(h.removeprefix("test_") for h in HEADLINE))
    for v in list_versions(ServiceSettings()):
        created = datetime.fromtimestamp(v.created / 1000, UTC).strftime("%Y-%m-%d %H:%M")
        table.add_row(
            v.version,
            ", ".join(v.aliases) or "-",
            created,
            *(f"{v.metrics[h]:.4f}" if h in v.metrics else "-" for h in HEADLINE),
        )
    console.print(table)


@app.command("promote")
def promote_command(version: str) -> None:
    """Make VERSION the champion the service loads."""
    try:
        promote(ServiceSettings(), version)
    except RegistryError as error:
        console.print(f"[red]{error}[/red]")
        raise typer.Exit(1) from error
    console.print(f"version {version} is now the champion")
