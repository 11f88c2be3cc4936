"""`ordershield features`: build the offline sources, apply the Feast repo, materialize."""

from __future__ import annotations

import pandas as pd
import typer
from rich.console import Console

from features.build import build_offline_sources
from features.catalog import current
from features.schema import conform
from features.store import apply, materialize
from service.cli.db import database
from service.scoring.rebuild import RebuildTaken, rebuild_online_state
from service.settings import ServiceSettings

app = typer.Typer(help="Build, register and materialize the Feast features.", no_args_is_help=True)
console = Console()


def apply_features(settings: ServiceSettings) -> None:
    """Compute the offline sources from the order log and register the Feast repo."""
    if not settings.orders_path.exists():
        raise typer.BadParameter(
            f"no order log at {settings.orders_path}: "
            "run `ordershield simulate` or train with --data"
        )
    orders = conform(pd.read_parquet(settings.orders_path), current().extra_columns)
    with console.status("computing point-in-time aggregates") as status:
        written = build_offline_sources(
            orders, settings, progress=lambda e: status.update(f"writing {e} features")
        )
    apply(settings)
    console.print(
        f"applied the Feast repo at {settings.feature_repo} "
        f"({settings.online_store} online store); rows per entity: {written}"
    )


@app.command("apply")
def apply_command() -> None:
    """Compute the offline aggregates from the order log and apply the Feast repo."""
    apply_features(ServiceSettings())


@app.command("materialize")
def materialize_command() -> None:
    """Load every entity's latest aggregate state into the online store."""
    settings = ServiceSettings()
    with console.status(f"materializing into the {settings.online_store} online store"):
        loaded = materialize(settings)
    console.print(
        f"materialized {loaded:,} entity states into the {settings.online_store} online store"
    )


@app.command("rebuild")
def rebuild_command() -> None:
    """Rebuild the online store's entity states from the order log and the stored decisions.

    For a store that came back empty or from an older copy: scoring goes on
    (degraded) while it runs, and the states equal the offline computation.
    """
    settings = ServiceSettings()
    with database(settings) as engine, console.status("rebuilding the online store") as status:
        try:
            done = rebuild_online_state(
                settings, engine, progress=lambda e: status.update(f"writing {e} states")
            )
        except RebuildTaken as taken:
            console.print(f"[red]not rebuilt:[/red] {taken}")
            raise typer.Exit(1) from taken
    console.print(
        f"rebuilt {sum(done.states.values()):,} entity states from the orders of "
        f"{done.orders:,} decisions in {done.seconds:.1f} s"
    )
