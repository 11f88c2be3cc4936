"""When orders happen and when their labels become known."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

Array = npt.NDArray[Any]

MINUTE = 60_000
HOUR = 60 * MINUTE
DAY = 24 * HOUR

# Relative order volume by local hour: quiet nights, a lunch bump, a peak after dinner.
HOURLY = np.array(
    [
        0.35,
        0.2,
        0.12,
        0.08,
        0.07,
        0.1,
        0.25,
        0.5,
        0.75,
        0.9,
        1.0,
        1.05,
        1.15,
        1.05,
        1.0,
        1.0,
        1.05,
        1.15,
        1.35,
        1.6,
        1.8,
        1.7,
        1.2,
        0.7,
    ]
)
# Relative volume by weekday, Monday first: weekends and Sunday evenings sell most.
WEEKLY = np.array([1.0, 0.95, 0.95, 1.0, 1.05, 1.12, 1.25])


@dataclass(frozen=True)
class Period:
    """The simulated stretch of time, in epoch milliseconds."""

    start_ms: int
    days: int

    @property
    def end_ms(self) -> int:
        """Return the first millisecond after the period."""
        return self.start_ms + self.days * DAY

    @classmethod
    def of(cls, start: str, days: int) -> Period:
        """Return the period of `days` days from midnight UTC of `start`."""
        moment = pd.Timestamp(start)
        moment = moment.tz_localize("UTC") if moment.tzinfo is None else moment.tz_convert("UTC")
        return cls(start_ms=int(moment.value // 1_000_000), days=days)


def seasonal(rng: np.random.Generator, period: Period, utc_offset: Array) -> Array:
    """Return one order time per row, seasonal in the row's local time (hours east of UTC)."""
    n = len(utc_offset)
    first_weekday = pd.Timestamp(period.start_ms, unit="ms").dayofweek
    weekday = (first_weekday + np.arange(period.days)) % 7
    growth = 1.0 + 0.15 * np.arange(period.days) / max(period.days, 1)
    daily = WEEKLY[weekday] * growth * rng.gamma(40.0, 1.0 / 40.0, size=period.days)
    day = rng.choice(period.days, size=n, p=daily / daily.sum())
    hour = rng.choice(24, size=n, p=HOURLY / HOURLY.sum())
    local = day * DAY + hour * HOUR + rng.integers(0, HOUR, size=n)
    # Wrapping keeps orders inside the period; it moves only a few hours at either end.
    offset = np.round(np.asarray(utc_offset, dtype=np.float64) * HOUR).astype(np.int64)
    return period.start_ms + (local - offset) % (period.days * DAY)


def uniform(
    rng: np.random.Generator, start_ms: Array | int, end_ms: Array | int, n: int
) -> npt.NDArray[np.int64]:
    """Return n times drawn uniformly between start and end."""
    start = np.asarray(start_ms, dtype=np.int64)
    # A scalar when both ends are scalars (np.maximum of 0-d arrays), an array otherwise.
    span: npt.NDArray[np.int64] | np.int64 = np.maximum(
        np.asarray(end_ms, dtype=np.int64) - start, 1
    )
    return start + (rng.random(n) * span).astype(np.int64)


def launches(rng: np.random.Generator, period: Period) -> Array:
    """Return the start times of limited-stock launches: two or three mornings or evenings."""
    count = 2 if period.days < 40 else 3
    centre = (np.arange(count) + 0.5) / count
    day = np.clip(
        np.floor((centre + rng.uniform(-0.08, 0.08, count)) * period.days), 0, period.days - 1
    )
    # Drops open at 10:00 or 18:00 Central European time.
    hour = rng.choice([9, 17], size=count)
    return np.sort(period.start_ms + day.astype(np.int64) * DAY + hour * HOUR)


def launch_rush(rng: np.random.Generator, n: int) -> Array:
    """Return delays after a launch opens: most buyers in the first half hour, none after two."""
    minutes = np.minimum(rng.gamma(1.1, 22.0, size=n), 119.0)
    return (minutes * MINUTE).astype(np.int64) + rng.integers(0, 1000, size=n)


def chargeback_delay(rng: np.random.Generator, n: int) -> Array:
    """Return how long a chargeback takes to arrive: 3 to 60 days, most within three weeks."""
    days = 3.0 + np.minimum(rng.gamma(1.4, 8.0, size=n), 57.0)
    return (days * DAY).astype(np.int64)


def non_payment_delay(rng: np.random.Generator, n: int) -> Array:
    """Return how long an unpaid order takes to be written off: one to 36 hours."""
    hours = 1.0 + np.minimum(rng.gamma(1.6, 4.0, size=n), 35.0)
    return (hours * HOUR).astype(np.int64)


def clean_delay(rng: np.random.Generator, n: int) -> Array:
    """Return when an order counts as legitimate: once its chargeback window has closed."""
    return (rng.uniform(60.0, 90.0, size=n) * DAY).astype(np.int64)


def strictly_increasing(sorted_ms: Array) -> Array:
    """Return sorted times nudged forward by the fewest milliseconds that make them distinct."""
    step = np.arange(len(sorted_ms), dtype=np.int64)
    return np.maximum.accumulate(sorted_ms.astype(np.int64) - step) + step
