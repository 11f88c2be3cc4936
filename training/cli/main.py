"""`ordershield`: simulate, build features, train and manage models from the shell."""

from __future__ import annotations

import logging
import warnings
from importlib.metadata import entry_points
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from features.settings import Settings
from training.cli import features_cmd, labels_cmd, models_cmd

app = typer.Typer(
    help="OrderShield: fraud and risk scoring at order creation.", no_args_is_help=True
)
app.add_typer(features_cmd.app, name="features")
app.add_typer(models_cmd.app, name="models")
app.add_typer(labels_cmd.app, name="labels")
console = Console()
# The service adds its own groups (API keys, users) through an entry point, so the
# command line offers them without importing the layer above it.
for plugin in entry_points(group="ordershield.commands"):
    app.add_typer(plugin.load(), name=plugin.name)


@app.callback()
def _quiet() -> None:
    """Keep library chatter out of the command's output."""
    warnings.filterwarnings("ignore")
    logging.getLogger("feast").setLevel(logging.ERROR)
    logging.getLogger("mlflow").setLevel(logging.ERROR)


@app.command()
def config() -> None:
    """Print the settings in force (environment variables prefixed ORDERSHIELD_)."""
    settings = Settings()
    table = Table("setting", "value", "environment variable")
    for name in type(settings).model_fields:
        table.add_row(name, str(getattr(settings, name)), f"ORDERSHIELD_{name.upper()}")
    console.print(table)


@app.command()
def simulate(
    orders: Annotated[int, typer.Option(help="how many orders to simulate")] = 200_000,
    seed: Annotated[int, typer.Option(help="random seed; the same seed gives the same data")] = 7,
    days: Annotated[int, typer.Option(help="length of the simulated period")] = 120,
    start: Annotated[str, typer.Option(help="first day of the period")] = "2026-01-01",
) -> None:
    """Simulate a labelled order stream with fraud scenarios into the data dir."""
    from rich.progress import Progress

    from training.simulation import simulate_orders

    settings = Settings()
    with Progress(console=console, transient=True) as bar:
        task = bar.add_task("simulating orders", total=orders)
        frame = simulate_orders(
            orders,
            seed=seed,
            start=start,
            days=days,
            progress=lambda done: bar.update(task, completed=done),
        )
    _write_orders(frame, settings)
    fraud = frame[frame["label"] == 1]
    console.print(
        f"{len(frame):,} orders, {len(fraud):,} fraud ({len(fraud) / len(frame):.2%}) "
        f"→ {settings.orders_path}"
    )
    console.print(fraud["scenario"].value_counts().to_string())


def _write_orders(frame: object, settings: Settings) -> None:
    import pandas as pd

    assert isinstance(frame, pd.DataFrame)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    frame.to_parquet(settings.orders_path, index=False)


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="interface to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port")] = 8000,
) -> None:
    """Serve the scoring API (OpenAPI docs at /docs) with the champion model."""
    import uvicorn

    uvicorn.run("service.app:create_app", factory=True, host=host, port=port)


@app.command()
def demo(
    orders: Annotated[int, typer.Option(help="how many orders to simulate")] = 200_000,
    seed: Annotated[int, typer.Option(help="random seed")] = 7,
    keep_serving: Annotated[bool, typer.Option(help="keep the server up after the demo")] = False,
) -> None:
    """Simulate, build features, train, register, serve and score sample orders."""
    from training.cli.demo_cmd import run_demo

    run_demo(orders, seed, keep_serving)


@app.command()
def train(
    data: Annotated[
        Path | None, typer.Option(help="your own labelled history (CSV or parquet)")
    ] = None,
    mapping: Annotated[
        Path | None, typer.Option(help="YAML mapping of your columns to OrderShield's")
    ] = None,
    train_end: Annotated[
        str | None, typer.Option(help="end of the training period (default: 60 %)")
    ] = None,
    valid_end: Annotated[
        str | None, typer.Option(help="end of the validation period (default: 80 %)")
    ] = None,
    fp_budget: Annotated[
        float, typer.Option(help="share of honest orders allowed at high or above")
    ] = 0.009,
    promote: Annotated[bool, typer.Option(help="also make the new version the champion")] = False,
) -> None:
    """Train LightGBM out of time, report held-out metrics, register a challenger in MLflow."""
    from models.registry import promote as promote_version
    from training.train import train as run_training

    settings = Settings()
    if (data is None) != (mapping is None):
        raise typer.BadParameter("--data and --mapping go together")
    if data is not None and mapping is not None:
        from training.imports import load_history

        _write_orders(load_history(data, mapping), settings)
        features_cmd.apply_features(settings)
    result = run_training(
        settings,
        train_end,
        valid_end,
        fp_budget,
        progress=lambda step: console.print(f"[dim]… {step}[/dim]"),
    )
    _print_result(result)
    if promote:
        promote_version(settings, result.version)
        console.print(f"version {result.version} is now the champion")


def _print_result(result: object) -> None:
    from training.train import TrainingResult

    assert isinstance(result, TrainingResult)
    console.print(
        f"registered [bold]{result.card.spec_hash}[/bold] model as version {result.version} "
        f"(alias challenger), MLflow run {result.run_id}"
    )
    for period, span in result.split.describe().items():
        console.print(f"  {period:5s} {span}")
    table = Table("held-out test metric", "value")
    for name, value in result.test_metrics.items():
        table.add_row(name, f"{value:.4f}" if not name.startswith("count_") else f"{value:.0f}")
    console.print(table)
    cuts = result.card.thresholds
    console.print(
        f"thresholds: medium ≥ {cuts.medium:.4f}, high ≥ {cuts.high:.4f}, "
        f"critical ≥ {cuts.critical:.4f}; one exact explanation: {result.explanation_ms:.3f} ms"
    )
