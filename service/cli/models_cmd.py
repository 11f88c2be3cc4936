"""`ordershield models`: list registered versions and promote one to champion."""

from __future__ import annotations

from datetime import UTC, datetime

import typer
from rich.console import Console
from rich.table import Table

from models.registry import (
    RegistryError,
    champion_version,
    list_versions,
    load_version,
    promote,
)
from service.audit.changes import record_promotion
from service.auth.principal import operator
from service.cli.db import database
from service.settings import ServiceSettings

app = typer.Typer(help="Registered model versions in MLflow.", no_args_is_help=True)
console = Console()
HEADLINE = ("test_roc_auc", "test_average_precision", "test_recall_at_fpr_1pct", "test_recall_high")


@app.command("list")
def list_command() -> None:
    """Show every version with its aliases, test period, protocol and held-out metrics."""
    table = Table(
        "version",
        "aliases",
        "created",
        "test period",
        "protocol",
        *(h.removeprefix("test_") for h in HEADLINE),
    )
    for v in list_versions(ServiceSettings()):
        created = datetime.fromtimestamp(v.created / 1000, UTC).strftime("%Y-%m-%d %H:%M")
        table.add_row(
            v.version,
            ", ".join(v.aliases) or "-",
            created,
            v.protocol.get("test", "-"),
            protocol(v.protocol),
            *(f"{v.metrics[h]:.4f}" if h in v.metrics else "-" for h in HEADLINE),
        )
    console.print(table)


def protocol(periods: dict[str, str]) -> str:
    """Return how a version was trained: its train and valid periods, gap and labels."""
    parts = ("train", "valid", "gap", "labels")
    return "; ".join(f"{part} {periods[part]}" for part in parts if part in periods) or "-"


@app.command("promote")
def promote_command(version: str) -> None:
    """Make VERSION the champion the service loads."""
    settings = ServiceSettings()
    try:
        previous = champion_version(settings)
        card = load_version(settings, version).card
        promote(settings, version)
    except RegistryError as error:
        console.print(f"[red]{error}[/red]")
        raise typer.Exit(1) from error
    with database(settings) as engine:
        record_promotion(
            engine, settings.model_name, version, previous, vars(card.thresholds), operator()
        )
    console.print(f"version {version} is now the champion")
