"""The canonical order record: the one shape every data source is turned into.

Simulated orders, a user's imported history and orders scored online all become
rows of this table before any feature is computed, so features are defined over
one vocabulary. Optional columns may be entirely null (an import without device
data); features that need them are then left out of the model, never faked.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pandas as pd
import pyarrow as pa
from pandas.api.types import pandas_dtype

TIMESTAMP = pa.timestamp("ms", tz="UTC")


@dataclass(frozen=True)
class Column:
    """One canonical column: its name, arrow type, and whether every row needs it."""

    name: str
    type: pa.DataType
    required: bool = False
    doc: str = ""


COLUMNS: tuple[Column, ...] = (
    Column("order_id", pa.string(), True, "unique order identifier"),
    Column("created_at", TIMESTAMP, True, "when the order was placed (UTC)"),
    Column("customer_id", pa.string(), True, "the ordering account"),
    Column("customer_created_at", TIMESTAMP, doc="when the account was created"),
    Column("time_zone", pa.string(), doc="the customer's IANA time zone (Europe/Berlin)"),
    Column("email", pa.string(), doc="account e-mail"),
    Column("phone", pa.string(), doc="account phone number"),
    Column("device_id", pa.string(), doc="device fingerprint"),
    Column("user_agent", pa.string(), doc="browser or app user agent"),
    Column("is_emulator", pa.bool_(), doc="device reported as an emulator"),
    Column("ip", pa.string(), doc="client IPv4 or IPv6 address"),
    Column("payment_id", pa.string(), doc="payment account (card or wallet) identifier"),
    Column("payment_method", pa.string(), doc="card, wallet, ..."),
    Column("card_bin", pa.string(), doc="first six digits of the card"),
    Column("card_last4", pa.string(), doc="last four digits of the card"),
    Column("card_country", pa.string(), doc="ISO country of the card's issuer (from the BIN)"),
    Column("payment_declined", pa.bool_(), doc="the payment authorisation was declined"),
    Column("shipping_address_id", pa.string(), doc="normalised shipping address identifier"),
    Column("shipping_country", pa.string(), doc="ISO country of the shipping address"),
    Column("shipping_lat", pa.float64(), doc="shipping address latitude"),
    Column("shipping_lon", pa.float64(), doc="shipping address longitude"),
    Column("billing_address_id", pa.string(), doc="normalised billing address identifier"),
    Column("billing_country", pa.string(), doc="ISO country of the billing address"),
    Column("amount", pa.float64(), True, "order total in the order currency"),
    Column("currency", pa.string(), doc="ISO 4217 currency code"),
    Column("item_count", pa.int32(), doc="total quantity of items"),
    Column("limited_quantity", pa.int32(), doc="quantity of limited-stock items"),
    Column("max_item_quantity", pa.int32(), doc="largest quantity of a single SKU"),
    Column("label", pa.int8(), doc="1 fraud, 0 legitimate, null unknown"),
    Column("scenario", pa.string(), doc="fraud scenario or reason for the label"),
    Column("label_known_at", TIMESTAMP, doc="when the label became known"),
    Column(
        "fraud_known_at",
        TIMESTAMP,
        doc="when a fraud label became known that the legitimate label withdrew (else empty)",
    ),
    Column(
        "labelled_at",
        TIMESTAMP,
        doc="when the order's first label became known (empty: its fraud or current label's)",
    ),
)

COLUMN_NAMES: tuple[str, ...] = tuple(column.name for column in COLUMNS)
REQUIRED: tuple[str, ...] = tuple(column.name for column in COLUMNS if column.required)
ARROW_SCHEMA = pa.schema([pa.field(c.name, c.type, nullable=not c.required) for c in COLUMNS])

# Payment declines are reported by the payment provider shortly after the order;
# a decline becomes visible to other orders' features only from then on.
DECLINE_DELAY = pd.Timedelta(seconds=30)


class SchemaError(ValueError):
    """Raised when a frame cannot be read as canonical orders."""


def conform(frame: pd.DataFrame, extra: Sequence[Column] = ()) -> pd.DataFrame:
    """Return the frame with every canonical column, in order, with canonical types.

    Missing optional columns are added as all-null; required ones must be present
    and non-null. `extra` columns (a feature pack's, `features.pack`) follow the
    canonical ones. Rows are sorted by `created_at` (ties by `order_id`).
    """
    missing = [name for name in REQUIRED if name not in frame.columns]
    if missing:
        raise SchemaError(f"missing required column(s): {', '.join(missing)}")
    out = pd.DataFrame(index=frame.index)
    for column in (*COLUMNS, *extra):
        values = frame[column.name] if column.name in frame.columns else None
        out[column.name] = _cast(values, column, len(frame))
        if column.required and out[column.name].isna().any():
            row = int(out[column.name].isna().to_numpy().argmax())
            raise SchemaError(f"column {column.name!r} is empty at row {row}")
    if out["order_id"].duplicated().any():
        duplicate = out.loc[out["order_id"].duplicated(), "order_id"].iloc[0]
        raise SchemaError(f"order_id {duplicate!r} appears more than once")
    return out.sort_values(["created_at", "order_id"], kind="stable").reset_index(drop=True)


def canonical_columns(frame: pd.DataFrame, names: Sequence[str]) -> pd.DataFrame:
    """Return these canonical columns of a frame, one it lacks added empty (an older log)."""
    by_name = {column.name: column for column in COLUMNS}
    return pd.DataFrame(
        {
            name: frame[name] if name in frame else _cast(None, by_name[name], len(frame))
            for name in names
        }
    )


def _cast(values: pd.Series | None, column: Column, length: int) -> pd.Series:
    dtype = "datetime64[ms, UTC]" if column.type == TIMESTAMP else _pandas_dtype(column.type)
    if values is None:
        return pd.Series([None] * length, dtype=dtype)
    if column.type == TIMESTAMP:
        return pd.to_datetime(values, utc=True).astype(pandas_dtype(dtype))
    return values.astype(pandas_dtype(dtype))


def _pandas_dtype(arrow_type: pa.DataType) -> str:
    if pa.types.is_string(arrow_type):
        return "string"
    if pa.types.is_boolean(arrow_type):
        return "boolean"
    if pa.types.is_integer(arrow_type):
        return "Int32" if arrow_type == pa.int32() else "Int8"
    return "float64"
