"""Order columns as the feature code sees them: enriched and turned into arrays."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pyarrow as pa

from features.currency import RateTable, current_rates, to_reporting
from features.ipclusters import lookup
from features.schema import DECLINE_DELAY, TIMESTAMP, Column
from features.spec import VALUE_SCALE, Columns, Stream

# The columns `enrich` adds to every order, with their types.
ADDED_COLUMNS: tuple[Column, ...] = (
    Column("ip_cluster", pa.string(), doc="the IP's network cluster"),
    Column("ip_country", pa.string(), doc="the IP's country"),
    Column("ip_is_hosting", pa.bool_(), doc="the IP belongs to a datacenter or proxy network"),
    Column("amount_reporting", pa.float64(), doc="the amount in the reporting currency"),
)
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def enrich(orders: pd.DataFrame, rates: RateTable | None = None) -> pd.DataFrame:
    """Return canonical orders with IP cluster, country and hosting flag and reporting amount.

    `amount_reporting` is the amount in the reporting currency (`features.currency`),
    by `rates` or else this process's rate table; `amount` stays in the order's currency.
    """
    out = orders.copy()
    out["amount_reporting"] = to_reporting(
        out["amount"].to_numpy(dtype=float, na_value=np.nan),
        out["currency"].astype(object).where(out["currency"].notna(), None).to_numpy(),
        epoch_ms(out["created_at"]),
        rates or current_rates(),
    )
    unique_ips = out["ip"].dropna().unique()
    infos = {ip: lookup(str(ip)) for ip in unique_ips}
    ips = out["ip"]
    out["ip_cluster"] = ips.map({ip: i.cluster for ip, i in infos.items()}).astype("string")
    out["ip_country"] = ips.map({ip: i.country for ip, i in infos.items()}).astype("string")
    out["ip_is_hosting"] = ips.map({ip: i.is_hosting for ip, i in infos.items()}).astype("boolean")
    return out


def available(orders: pd.DataFrame) -> list[str]:
    """Return the columns that hold at least one value."""
    return [name for name in orders.columns if orders[name].notna().any()]


def epoch_ms(values: pd.Series) -> np.ndarray:
    """Return timestamps as float milliseconds since the epoch, NaN where missing."""
    as_int = values.astype("datetime64[ms, UTC]").astype("int64").to_numpy().astype(float)
    as_int[values.isna().to_numpy()] = np.nan
    return as_int


def moment_ms(moment: datetime) -> int:
    """Return an aware datetime as integer epoch milliseconds (exact, no float rounding)."""
    return (moment - EPOCH) // timedelta(milliseconds=1)


def to_columns(orders: pd.DataFrame) -> dict[str, np.ndarray]:
    """Return the frame as arrays: numbers and flags as float (NaN missing), text as objects."""
    columns: dict[str, np.ndarray] = {}
    for name in orders.columns:
        series = orders[name]
        if isinstance(series.dtype, pd.DatetimeTZDtype) or str(series.dtype) == str(TIMESTAMP):
            columns[name] = epoch_ms(series)
        elif pd.api.types.is_string_dtype(series.dtype) or series.dtype == object:
            columns[name] = series.astype(object).where(series.notna(), None).to_numpy()
        else:
            columns[name] = series.astype("Float64").to_numpy(dtype=float, na_value=np.nan)
    return columns


def scaled_integers(name: str, values: np.ndarray) -> np.ndarray:
    """Return a summed column as exact integers (amounts in cents)."""
    scaled: np.ndarray = np.rint(values * VALUE_SCALE.get(name, 1)).astype(np.int64)
    return scaled


DECLINE_DELAY_MS = int(DECLINE_DELAY / pd.Timedelta(milliseconds=1))


def decline_times(orders: Columns) -> np.ndarray:
    """Return when each order's decline counts in the features, NaN for orders not declined."""
    declined = orders["payment_declined"] == 1.0
    return np.where(declined, orders["created_at"] + DECLINE_DELAY_MS, np.nan)


def lead_ms(stream: Stream) -> int:
    """Return how far an event's time may lie after the moment it is posted (declines: 30 s).

    The online state measures lateness in posting time, so a stream's newest event
    does not fold events that a read within the bound still has ahead of it.
    """
    return DECLINE_DELAY_MS if stream is Stream.DECLINES else 0


def event_time_ms(stream: Stream, created_ms: int, known_ms: int) -> int:
    """Return when an order's event counts in the features, online as offline.

    A decline counts `DECLINE_DELAY` after its order whenever it was posted (the
    histories training reads carry no decline time); a label from when it was known.
    """
    if stream is Stream.DECLINES:
        return created_ms + DECLINE_DELAY_MS
    return created_ms if stream is Stream.ORDERS else known_ms
