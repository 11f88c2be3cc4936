"""The simulator's exchange rates, written as a data dir's rate table.

`ordershield simulate` and `ordershield demo` write it beside the orders, so
the feature build and `serve` on that data dir convert every simulated amount
to the reporting currency with no setting (`features.currency`).
"""

from __future__ import annotations

from datetime import UTC
from pathlib import Path

import typer

from features.currency import write_rates
from features.settings import RATES_FILE
from service.settings import ServiceSettings
from training.sources.simulator.geo import FX_PER_EUR


def unsupported_reporting(settings: ServiceSettings) -> str | None:
    """Return why the simulator has no rates to the reporting currency (None: it has)."""
    if str(settings.reporting_currency) in FX_PER_EUR:
        return None
    return f"the simulator trades in {', '.join(FX_PER_EUR)}: report in one of them"


def write_simulated_rates(settings: ServiceSettings) -> Path:
    """Write the simulator's exchange rates as the data dir's rate table; return its path."""
    if problem := unsupported_reporting(settings):
        raise typer.BadParameter(problem, param_hint="ORDERSHIELD_REPORTING_CURRENCY")
    reporting = str(settings.reporting_currency)
    # The simulator's rates never move: one row per currency, in force from the earliest
    # time an event may have (`earliest_event_time`), so it holds for any simulated period.
    since = settings.earliest_event_time.astimezone(UTC).date()
    per_reporting = FX_PER_EUR[reporting]
    rows = [(since, code, rate / per_reporting) for code, rate in FX_PER_EUR.items()]
    path = settings.data_dir / RATES_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    write_rates(path, reporting, [row for row in rows if row[1] != reporting])
    return path
