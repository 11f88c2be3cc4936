"""Order amounts in one reporting currency: the operator's dated rate table and minor units.

The rate table is a CSV file whose header names the reporting currency:

    date,currency,per_EUR
    2026-03-02,USD,1.0843
    2026-03-02,GBP,0.8571

Each row says how many units of `currency` one unit of the reporting currency
bought on `date` (a calendar date, UTC), the way central banks quote reference
rates. An order uses its currency's latest row dated on or before its
`created_at` (a row applies from 00:00 UTC of its date), so offline and online
give the same value whenever they run. Orders in the reporting currency need
no row; an order without a currency is taken to be in it.

An order whose currency has no row, or that is older than its currency's first
row, has no reporting amount (NaN): its amount features are missing, never a
number in the wrong currency. Such orders are counted (`missing_conversions`)
and logged once per currency and process.

Converted amounts are rounded to the reporting currency's ISO 4217 minor units
(to nearest, ties to even). Minor units come from the `iso4217` package (ISO's
own table); codes ISO withdrew but order systems still send are listed here.
"""

from __future__ import annotations

import csv
import logging
import math
import threading
import time
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
from iso4217 import Currency

from features.settings import FeatureSettings

log = logging.getLogger(__name__)

# Withdrawn from ISO 4217 (so not in the library) but still accepted at the API.
WITHDRAWN_MINOR_UNITS: Mapping[str, int] = {"ANG": 2, "BGN": 2, "ZWL": 2}
ROUNDING = "nearest, ties to even"
NO_RATE, BEFORE_FIRST_RATE, NO_TIME = "no rate", "before its first rate", "no order time"


class RateTableError(ValueError):
    """Raised when the rate table cannot be read or does not fit the reporting currency."""


class TooManyDecimals(ValueError):
    """Raised when an amount has more decimals than its currency's minor units."""


def minor_units(code: str) -> int | None:
    """Return a currency's ISO 4217 minor units (JPY 0, EUR 2), None when it defines none."""
    if code in WITHDRAWN_MINOR_UNITS:
        return WITHDRAWN_MINOR_UNITS[code]
    try:
        return Currency(code).exponent
    except ValueError:
        return None


def check_minor_units(amount: Decimal, currency: str) -> None:
    """Refuse an amount with more decimals than its currency has (JPY 1.5, EUR 1.005)."""
    places = minor_units(currency)
    exponent = amount.normalize().as_tuple().exponent
    # Trailing zeros are no extra precision (JPY 100.00 is 100); a currency without
    # minor units in ISO 4217 (XSU, XUA) sets no limit.
    if places is not None and isinstance(exponent, int) and -exponent > places:
        raise TooManyDecimals(
            f"{currency} amounts have at most {places} decimal place(s), got {amount}"
        )


@dataclass(frozen=True)
class RateTable:
    """Per currency, when each rate starts (epoch ms, sorted) and units per reporting unit."""

    reporting: str
    starts: Mapping[str, np.ndarray] = field(default_factory=dict)
    rates: Mapping[str, np.ndarray] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if minor_units(self.reporting) is None:
            raise RateTableError(f"{self.reporting} has no minor units: no reporting currency")

    @property
    def decimals(self) -> int:
        """Return the decimals converted amounts are rounded to (checked at creation)."""
        return minor_units(self.reporting) or 0

    def rows(self) -> frozenset[tuple[str, int, float]]:
        """Return every (currency, start ms, rate) of the table."""
        return frozenset(
            (code, int(start), float(rate))
            for code, starts in self.starts.items()
            for start, rate in zip(starts, self.rates[code], strict=True)
        )

    @classmethod
    def read(cls, path: Path, reporting: str) -> RateTable:
        """Read and check a rate table file for this reporting currency."""
        try:
            # utf-8-sig: a spreadsheet's CSV export may start with a byte order mark.
            with path.open(newline="", encoding="utf-8-sig") as handle:
                lines = list(csv.reader(handle))
        except OSError as error:
            raise RateTableError(f"cannot read the rate table {path}: {error}") from error
        header = [cell.strip() for cell in lines[0]] if lines else []
        if header[:2] != ["date", "currency"] or len(header) != 3:
            raise RateTableError(f"{path}: the header must be date,currency,per_{reporting}")
        if header[2] != f"per_{reporting}":
            raise RateTableError(
                f"{path} gives rates {header[2]}, but the reporting currency is {reporting}"
            )
        found: dict[str, dict[int, float]] = {}
        for number, line in enumerate(lines[1:], start=2):
            if any(cell.strip() for cell in line):
                code, start, rate = _row(line, reporting, f"{path}, line {number}")
                if start in found.setdefault(code, {}):
                    raise RateTableError(f"{path}, line {number}: a second {code} rate that day")
                found[code][start] = rate
        starts = {c: np.array(sorted(days), dtype=np.int64) for c, days in found.items()}
        rates = {c: np.array([found[c][s] for s in starts[c]]) for c in found}
        return cls(reporting, starts, rates)


def _row(line: list[str], reporting: str, where: str) -> tuple[str, int, float]:
    """Return one line as (currency, start ms, rate), or say what is wrong with it."""
    if len(line) != 3:
        raise RateTableError(f"{where}: expected 3 fields, got {len(line)}")
    day, code, text = (cell.strip() for cell in line)
    try:
        start = datetime.strptime(day, "%Y-%m-%d").replace(tzinfo=UTC)
    except ValueError as error:
        raise RateTableError(f"{where}: the date must be YYYY-MM-DD, got {day!r}") from error
    if minor_units(code) is None:
        raise RateTableError(f"{where}: {code!r} is no ISO 4217 currency with minor units")
    try:
        rate = float(text)
    except ValueError as error:
        raise RateTableError(f"{where}: the rate must be a number, got {text!r}") from error
    if not (math.isfinite(rate) and rate > 0):
        raise RateTableError(f"{where}: the rate must be above 0, got {text}")
    if code == reporting and rate != 1:
        raise RateTableError(f"{where}: one {reporting} is one {reporting}, not {text}")
    return code, int(start.timestamp() * 1000), rate


def write_rates(path: Path, reporting: str, rows: Iterable[tuple[date, str, float]]) -> None:
    """Write a rate table file: (date, currency, units of it per reporting unit) rows.

    Written beside it and renamed into place, so a server reading it never sees half a table.
    """
    part = path.with_name(f".{path.name}.partial")
    with part.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["date", "currency", f"per_{reporting}"])
        writer.writerows((day.isoformat(), code, repr(rate)) for day, code, rate in rows)
    part.replace(path)


_missing: Counter[tuple[str, str]] = Counter()
_missing_lock = threading.Lock()


def missing_conversions() -> dict[tuple[str, str], int]:
    """Return how many orders had no reporting amount in this process, by currency and why."""
    with _missing_lock:
        return dict(_missing)


def _count_missing(code: str, reason: str, orders: int) -> None:
    with _missing_lock:
        first = (code, reason) not in _missing
        _missing[(code, reason)] += orders
    if first:  # once per currency and reason; `missing_conversions` counts them all
        message = "orders in %s have no rate to the reporting currency (%s): amounts missing"
        log.warning(message, code, reason)


def _codes(currencies: np.ndarray, reporting: str) -> np.ndarray:
    """Return currency codes as text, the reporting currency where an order names none."""
    return np.array(
        [c.strip().upper() if isinstance(c, str) else reporting for c in currencies], dtype=object
    )


def to_reporting(
    amounts: np.ndarray, currencies: np.ndarray, created_ms: np.ndarray, table: RateTable
) -> np.ndarray:
    """Return amounts in the reporting currency, rounded to its minor units (NaN: no rate)."""
    amounts = np.asarray(amounts, dtype=float)
    created = np.asarray(created_ms, dtype=float)
    codes = _codes(currencies, table.reporting)
    out = np.full(len(amounts), np.nan)
    for code in set(codes):
        rows = np.flatnonzero(codes == code)
        if code == table.reporting:
            out[rows] = amounts[rows]
            continue
        if code not in table.starts:
            _count_missing(code, NO_RATE, len(rows))
            continue
        timed = rows[~np.isnan(created[rows])]
        if len(timed) < len(rows):
            _count_missing(code, NO_TIME, len(rows) - len(timed))
        index = np.searchsorted(table.starts[code], created[timed], side="right") - 1
        if (index < 0).any():
            _count_missing(code, BEFORE_FIRST_RATE, int((index < 0).sum()))
        known = index >= 0
        out[timed[known]] = amounts[timed[known]] / table.rates[code][index[known]]
    rounded: np.ndarray = np.round(out, table.decimals)
    return rounded


def reporting_amount(order: Mapping[str, Any], table: RateTable | None = None) -> float:
    """Return one canonical order's amount (times in epoch ms) in the reporting currency.

    The online path's single-order form of `to_reporting`: NaN when no rate applies.
    """
    created = order.get("created_at")
    return float(
        to_reporting(
            np.array([order.get("amount", math.nan)], dtype=float),
            np.array([order.get("currency")], dtype=object),
            np.array([math.nan if created is None else float(created)]),
            table or current_rates(),
        )[0]
    )


@cache
def process_settings() -> FeatureSettings:
    """Return this process's feature settings (environment), read once."""
    return FeatureSettings()


def current_rates() -> RateTable:
    """Return the rate table of this process's settings (the online path reads this one)."""
    return rates_for(process_settings())


def currency_spec() -> dict[str, object]:
    """Return what the amount features' meaning depends on: reporting currency and rounding."""
    reporting = str(process_settings().reporting_currency)
    return {"reporting": reporting, "minor_units": minor_units(reporting), "rounding": ROUNDING}


_loaded: dict[tuple[Path | None, str], tuple[object, RateTable]] = {}


def rates_for(settings: FeatureSettings) -> RateTable:
    """Return the settings' rate table, read again whenever its file changed.

    Operators append rates while the service runs. A file that turns unreadable
    keeps the last good table (and logs why); with none yet, the error is raised.
    """
    path, reporting = settings.exchange_rates, str(settings.reporting_currency)
    key = (path, reporting)
    if path is None:
        return _loaded.setdefault(key, (None, RateTable(reporting)))[1]
    try:
        stat = path.stat()
        stamp: object = (stat.st_mtime_ns, stat.st_size)
    except OSError:
        stamp = None
    held = _loaded.get(key)
    if held is not None and held[0] == stamp:
        return held[1]
    try:
        table = RateTable.read(path, reporting)
    except RateTableError as error:
        if held is None:
            raise
        log.error("kept the previous exchange rates: %s", error)
        _loaded[key] = (stamp, held[1])
        return held[1]
    if held is not None:
        _warn_retroactive(held[1], table)
    _loaded[key] = (stamp, table)
    return table


def _warn_retroactive(before: RateTable, after: RateTable) -> None:
    """Log rates that arrived after their day began: orders already scored used older ones."""
    now_ms = time.time() * 1000
    late = sorted((c, s) for c, s, _ in after.rows() - before.rows() if s <= now_ms)
    if late:
        days = ", ".join(f"{c} {datetime.fromtimestamp(s / 1000, UTC).date()}" for c, s in late[:5])
        log.warning(
            "exchange rates added or changed after their day began (%s): orders scored "
            "since used the earlier rate, training will not; recompute the features to match",
            days,
        )
