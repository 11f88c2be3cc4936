"""Request-time features: computed from the order itself and its entity aggregates.

Each function takes column arrays (numbers as float with NaN for missing, times
as float milliseconds, text as object arrays with None) so the same code serves
a whole training frame and a single order at scoring time.
"""

from __future__ import annotations

import zoneinfo
from datetime import datetime, timedelta
from functools import lru_cache

import numpy as np

from features.aggregates import RISK_ENTITIES, RISK_WINDOWS, WINDOW_WORDS
from features.spec import Columns, Derived, Family

MS_PER_HOUR = 3_600_000.0
MS_PER_DAY = 24 * MS_PER_HOUR


def _differs(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Return 1.0 where both values are known and differ, 0.0 where equal, NaN otherwise."""
    known = np.array(
        [x is not None and y is not None for x, y in zip(a, b, strict=True)], dtype=bool
    )
    out = np.full(len(a), np.nan)
    out[known] = (a[known] != b[known]).astype(float)
    return out


def ratio(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    """Return numerator / denominator, NaN where the denominator is zero or missing."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(denominator > 0, numerator / denominator, np.nan)


@lru_cache(maxsize=1024)
def _zone(name: str) -> zoneinfo.ZoneInfo | None:
    """Return a time zone by its IANA name, None for a name this machine does not know."""
    try:
        return zoneinfo.ZoneInfo(name)
    except (KeyError, ValueError, OSError):  # unknown, malformed, or a folder of zones
        return None


def _zone_offsets(c: Columns) -> np.ndarray:
    """Return each order's UTC offset in hours in the customer's time zone (NaN: none known).

    Order by order, with `zoneinfo`: one order at scoring time costs microseconds,
    where building a pandas index per zone cost a fraction of a millisecond.
    """
    created = c["created_at"]
    out = np.full(len(created), np.nan)
    zones = c.get("time_zone")
    if zones is None:
        return out
    for row, name in enumerate(zones):
        zone = _zone(name) if isinstance(name, str) and name else None
        moment = created[row]
        if zone is None or moment != moment:  # no zone known, or no time (NaN)
            continue
        offset = datetime.fromtimestamp(moment / 1000, zone).utcoffset()
        out[row] = offset / timedelta(hours=1) if offset is not None else np.nan
    return out


def _offsets(c: Columns) -> np.ndarray:
    """Return the local offset in hours: the customer's zone, else the shipping longitude (NaN)."""
    zone = _zone_offsets(c)
    return np.where(np.isnan(zone), c["shipping_lon"] / 15.0, zone)


def _local_hours(c: Columns) -> np.ndarray:
    """Return hours since the epoch in the customer's local time, else in UTC."""
    hours: np.ndarray = c["created_at"] / MS_PER_HOUR + np.nan_to_num(_offsets(c), nan=0.0)
    return hours


def _local_hour(c: Columns) -> np.ndarray:
    """Return the hour of day in the customer's time zone, else solar where the order ships
    to (from its longitude), else in UTC."""
    return _local_hours(c) % 24.0


def _local_weekday(c: Columns) -> np.ndarray:
    """Return the weekday (0 Monday) in local time as `_local_hour` (1970-01-01 was a Thursday)."""
    days = np.floor(_local_hours(c) / 24.0)
    return (days + 3) % 7


def _local_time_unknown(c: Columns) -> np.ndarray:
    """Return 1.0 where neither a time zone nor a location gives the local time (UTC read)."""
    unknown: np.ndarray = np.isnan(_offsets(c)).astype(float)
    return unknown


def _risk(entity: str, window: str, words: str, family: Family) -> Derived:
    """Return an entity's risk: fraud among the labels that became known in the window.

    Numerator and denominator count the same orders (those labelled in the
    window), so the share reads as "of what we learned lately, how much was fraud".
    """
    fraud, labelled = f"{entity}_fraud_{window}", f"{entity}_labelled_{window}"
    return Derived(
        f"{entity}_risk_{window}",
        (fraud, labelled),
        # A fraud label after an earlier legitimate one counts later than its order's
        # first label: the share is capped at 1.
        lambda c: np.minimum(ratio(c[fraud], c[labelled]), 1.0),
        f"{{value:.0%}} of the orders here labelled in the last {words} were fraud",
        family=family,
    )


DERIVED: tuple[Derived, ...] = (
    # Amounts in the reporting currency (`features.currency`): comparable across orders.
    Derived(
        "amount",
        ("amount_reporting",),
        lambda c: c["amount_reporting"],
        "the order total is {value:.2f} (reporting currency)",
        family="order",
    ),
    Derived(
        "account_age_days",
        ("created_at", "customer_created_at"),
        lambda c: (c["created_at"] - c["customer_created_at"]) / MS_PER_DAY,
        "the account was created {value:.1f} days before the order",
        family="customer",
    ),
    Derived(
        "amount_vs_customer_mean",
        ("amount_reporting", "customer_amount_mean"),
        lambda c: ratio(c["amount_reporting"], c["customer_amount_mean"]),
        "the order is {value:.1f}x this account's average",
        family="customer",
    ),
    Derived(
        "ip_country_differs_from_shipping",
        ("ip_country", "shipping_country"),
        lambda c: _differs(c["ip_country"], c["shipping_country"]),
        "the IP country differs from the shipping country",
        "the IP country matches the shipping country",
        family="network",
    ),
    Derived(
        "ip_country_differs_from_card",
        ("ip_country", "card_country"),
        lambda c: _differs(c["ip_country"], c["card_country"]),
        "the IP country differs from the card's country",
        "the IP country matches the card's country",
        family="network",
    ),
    Derived(
        "card_country_differs_from_shipping",
        ("card_country", "shipping_country"),
        lambda c: _differs(c["card_country"], c["shipping_country"]),
        "the card's country differs from the shipping country",
        "the card's country matches the shipping country",
        family="payment",
    ),
    Derived(
        "billing_differs_from_shipping",
        ("billing_address_id", "shipping_address_id"),
        lambda c: _differs(c["billing_address_id"], c["shipping_address_id"]),
        "billing and shipping addresses differ",
        "billing and shipping addresses are the same",
        family="address",
    ),
    Derived(
        "item_count",
        ("item_count",),
        lambda c: c["item_count"],
        "the order has {value:.0f} items",
        family="order",
    ),
    Derived(
        "limited_quantity",
        ("limited_quantity",),
        lambda c: c["limited_quantity"],
        "the order takes {value:.0f} limited-stock units",
        family="order",
    ),
    Derived(
        "limited_share",
        ("limited_quantity", "item_count"),
        lambda c: ratio(c["limited_quantity"], c["item_count"]),
        "{value:.0%} of the items are limited stock",
        family="order",
    ),
    Derived(
        "max_item_quantity",
        ("max_item_quantity",),
        lambda c: c["max_item_quantity"],
        "one item is ordered {value:.0f} times",
        family="order",
    ),
    Derived(
        "local_hour",
        ("created_at",),
        _local_hour,
        "the order was placed at {value:.0f}h local time",
        family="order",
        reads=("time_zone", "shipping_lon"),
    ),
    Derived(
        "local_weekday",
        ("created_at",),
        _local_weekday,
        "the order was placed on weekday {value:.0f} (0 is Monday), local time",
        family="order",
        reads=("time_zone", "shipping_lon"),
    ),
    Derived(
        "local_time_unknown",
        ("created_at",),
        _local_time_unknown,
        "no time zone or location gives the order's local time: its hour and weekday are in UTC",
        "the order's local time comes from the customer's time zone or shipping location",
        family="order",
        reads=("time_zone", "shipping_lon"),
    ),
    Derived(
        "is_emulator",
        ("is_emulator",),
        lambda c: c["is_emulator"],
        "the device reports an emulator",
        "the device is not an emulator",
        family="device",
    ),
    Derived(
        "ip_is_hosting",
        ("ip_is_hosting",),
        lambda c: c["ip_is_hosting"],
        "the IP belongs to a datacenter or proxy network",
        "the IP is not a datacenter or proxy address",
        family="network",
    ),
    *(
        _risk(risk.prefix, window, WINDOW_WORDS[window], risk.entity.family)
        for risk in RISK_ENTITIES
        for window in RISK_WINDOWS
    ),
)
