"""`ordershield simulate` and `ordershield train`: make or import history, train a challenger."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from features.build import write_order_log
from features.schema import SchemaError
from features.store import FeatureStoreError
from models.registry import promote as promote_version
from service.cli.errors import fail, fail_option
from service.cli.features_cmd import apply_features
from service.cli.packs import FeaturesOption, use_features
from service.cli.simulated_rates import unsupported_reporting, write_simulated_rates
from service.settings import ServiceSettings
from training.feature_choice import by_missing_fields
from training.protocol import ProtocolError
from training.sources.mapping import HistoryImportError
from training.sources.simulator.difficulty import Difficulty
from training.splits import SplitOptions, order_log, plan_split
from training.thresholds import REVIEW_CAPACITY
from training.train import TrainingResult
from training.tuning import TuningError

console = Console()


def simulate(
    orders: Annotated[int, typer.Option(help="how many orders to simulate")] = 200_000,
    seed: Annotated[int, typer.Option(help="random seed; the same seed gives the same data")] = 7,
    days: Annotated[int, typer.Option(help="length of the simulated period")] = 120,
    start: Annotated[str, typer.Option(help="first day of the period")] = "2026-01-01",
    difficulty: Annotated[
        Difficulty,
        typer.Option(
            help="how closely fraud imitates honest customers: normal, or hard (aged accounts, "
            "residential proxies, orders hours or days apart, honest-looking baskets)"
        ),
    ] = "normal",
) -> None:
    """Simulate a labelled order stream with fraud scenarios into the data dir.

    The simulator's fixed exchange rates go beside it as the data dir's rate
    table, unless ORDERSHIELD_EXCHANGE_RATES_PATH names a table of your own or
    the data dir holds one already (it is kept).
    """
    from training.sources.simulator import simulate_orders

    settings = ServiceSettings()
    writes_rates = settings.exchange_rates is None
    if writes_rates and (problem := unsupported_reporting(settings)):
        fail(
            f"ORDERSHIELD_REPORTING_CURRENCY: {problem}, "
            "or set ORDERSHIELD_EXCHANGE_RATES_PATH to a rate table of your own"
        )
    with Progress(console=console, transient=True) as bar:
        task = bar.add_task("simulating orders", total=orders)
        frame = simulate_orders(
            orders,
            seed=seed,
            start=start,
            days=days,
            progress=lambda done: bar.update(task, completed=done),
            difficulty=difficulty,
        )
    write_order_log(frame, settings)
    if writes_rates:
        path = write_simulated_rates(settings)
        console.print(f"the simulator's fixed exchange rates → {path} (not for real orders)")
    else:
        console.print(f"exchange rates: the table in use is kept, {settings.exchange_rates}")
    fraud = frame[frame["label"] == 1]
    console.print(
        f"{len(frame):,} orders, {len(fraud):,} fraud ({len(fraud) / len(frame):.2%}, "
        f"{difficulty} difficulty) → {settings.orders_path}"
    )
    console.print(fraud["scenario"].value_counts().to_string())


def train(
    data: Annotated[
        Path | None, typer.Option(help="your own labelled history (CSV or parquet)")
    ] = None,
    mapping: Annotated[
        Path | None, typer.Option(help="YAML mapping of your columns to OrderShield's")
    ] = None,
    train_start: Annotated[
        str | None,
        typer.Option(help="start of the training period (default: the first order)"),
    ] = None,
    train_end: Annotated[
        str | None,
        typer.Option(
            help="end of the training period and start of validation (default: 60 % of the period)"
        ),
    ] = None,
    valid_end: Annotated[
        str | None, typer.Option(help="end of the validation period (default: 80 % of the period)")
    ] = None,
    gap: Annotated[
        str | None,
        typer.Option(
            help="label-maturity gap between the end of validation and the start of test, in "
            "days (7 or 7d), hours (36h) or weeks (2w); default 0"
        ),
    ] = None,
    test_start: Annotated[
        str | None, typer.Option(help="start of the test period (default: --valid-end + --gap)")
    ] = None,
    test_end: Annotated[
        str | None, typer.Option(help="end of the test period (default: the last order)")
    ] = None,
    fp_budget: Annotated[
        float, typer.Option(help="share of honest orders allowed at high or above")
    ] = 0.009,
    review_capacity: Annotated[
        float | None,
        typer.Option(
            min=0.0,
            help="review cases per day your reviewers can work; raises the high cut point "
            "when stricter than --fp-budget",
        ),
    ] = None,
    promote: Annotated[bool, typer.Option(help="also make the new version the champion")] = False,
    tune_minutes: Annotated[
        float,
        typer.Option(
            min=0.0,
            help="search LightGBM's parameters on validation for up to this long first "
            "(Optuna; every trial in MLflow; models over the explanation-cost cap refused)",
        ),
    ] = 0.0,
    tune_trials: Annotated[int, typer.Option(min=1, help="most trials of the search")] = 50,
    features: FeaturesOption = None,
) -> None:
    """Train LightGBM out of time, report held-out metrics, register a challenger in MLflow.

    Periods follow each other: training, validation (early stopping, cut points), the gap,
    test. Dates are ISO 8601: a date (midnight UTC) or a date and time with its zone, such
    as 2026-03-01T08:00+01:00. Once any period option is given, training and validation
    learn only from labels known before the test period starts; without one, labels are
    taken as recorded and the run says how many were not known in time.
    """
    from training.sources.history import load_history
    from training.train import train as run_training

    use_features(features)
    settings = ServiceSettings()
    # Every user error is found here, before features are computed or a model is fitted.
    try:
        if (data is None) != (mapping is None):
            raise ProtocolError(
                "mapping" if mapping is None else "data", "--data and --mapping go together"
            )
        options = SplitOptions.parse(train_start, train_end, gap, valid_end, test_start, test_end)
        for option, value, most in (
            ("fp_budget", fp_budget, 1.0),
            ("review_capacity", review_capacity, math.inf),
            ("tune_minutes", tune_minutes, 60.0 * 24),
        ):
            if value is not None and not (math.isfinite(value) and 0 <= value <= most):
                raise ProtocolError(option, f"must be a number from 0 to {most:g}, got {value}")
        orders = (
            order_log(settings) if data is None or mapping is None else load_history(data, mapping)
        )
        plan_split(options, orders)
    except ProtocolError as error:
        fail_option(error)
    except (HistoryImportError, SchemaError, FeatureStoreError) as error:
        fail(str(error))
    except OSError as error:
        fail(f"--data: cannot read {data}: {error.strerror}")
    if data is not None:
        write_order_log(orders, settings)
        apply_features(settings)
    try:
        result = run_training(
            settings,
            options,
            fp_budget,
            progress=lambda step: console.print(f"[dim]… {step}[/dim]"),
            review_capacity=review_capacity,
            tune_seconds=60 * tune_minutes,
            tune_trials=tune_trials,
        )
    except TuningError as error:
        fail(f"--tune-minutes: {error}")
    print_result(result)
    if result.tuning is not None:
        tuned = result.tuning
        console.print(
            f"tuning: {tuned.n_trials} trials ({tuned.n_pruned} over the explanation-cost cap) "
            f"in {tuned.elapsed_seconds:.0f} s; validation AP {tuned.average_precision:.3f} "
            f"(defaults {tuned.default_average_precision:.3f})"
        )
    if promote:
        promote_version(settings, result.version)
        console.print(f"version {result.version} is now the champion")


def print_result(result: TrainingResult) -> None:
    """Print the registered version, its periods, held-out metrics and thresholds."""
    console.print(
        f"registered [bold]{result.card.spec_hash}[/bold] model as version {result.version} "
        f"(alias challenger), MLflow run {result.run_id}"
    )
    for period, span in result.split.describe().items():
        console.print(f"  {period:6s} {span}")
    if result.label_note:
        console.print(f"labels: {result.label_note}")
    print_features(result)
    table = Table("held-out test metric", "value")
    for name, value in result.test_metrics.items():
        digits = 0 if name.startswith("count_") else 2 if "per_day" in name else 4
        table.add_row(name, f"{value:.{digits}f}")
    console.print(table)
    console.print(tradeoff_table(result))
    cuts = result.card.thresholds
    console.print(
        f"thresholds: medium ≥ {cuts.medium:.4f}, high ≥ {cuts.high:.4f}, "
        f"critical ≥ {cuts.critical:.4f}; one exact explanation: {result.explanation_ms:.3f} ms"
    )
    bound = (
        f"review capacity ({result.review_capacity:g} cases/day)"
        if result.bound_by == REVIEW_CAPACITY
        else "false-positive budget"
    )
    valid, test = result.valid_point, result.test_metrics
    console.print(
        f"high is bound by the {bound}: {valid['cases_per_day_high']:.2f} cases/day expected "
        f"on validation, {test['cases_per_day_high']:.2f} realised on test"
    )


def print_features(result: TrainingResult) -> None:
    """Print the features the model uses, and those left out with the fields they lack."""
    card = result.card
    console.print(f"features used ({len(card.features)}): {', '.join(card.features)}")
    if card.dropped_features:
        console.print(f"features dropped for missing fields ({len(card.dropped_features)}):")
    for fields, names in by_missing_fields(card.dropped_features).items():
        console.print(f"  missing {fields}: {', '.join(names)}")


def tradeoff_table(result: TrainingResult) -> Table:
    """Return the validation trade-off of candidate high cut points, the chosen one marked."""
    table = Table(
        "high set by",
        "high ≥",
        "honest at high+",
        "fraud recall at high+",
        "cases/day",
        title="candidate high cut points on validation "
        f"({result.valid_point['orders_per_day']:.0f} orders/day)",
    )
    for row in result.card.tradeoffs:
        budget, capacity = row.get("fp_budget"), row.get("review_capacity")
        constraint = f"fp ≤ {budget:.2%}" if budget is not None else f"≤ {capacity:g} cases/day"
        chosen = row["threshold"] == result.card.thresholds.high
        table.add_row(
            f"{constraint}{' ◀' if chosen else ''}",
            f"{row['threshold']:.4f}",
            f"{row['honest_flagged']:.2%}",
            f"{row['fraud_recall']:.1%}",
            f"{row.get('cases_per_day', float('nan')):.2f}",
            style="bold" if chosen else None,
        )
    return table
