"""Request-time features: computed from the order itself and its entity aggregates.

Each function takes column arrays (numbers as float with NaN for missing, times
as float milliseconds, text as object arrays with None) so the same code serves
a whole training frame and a single order at scoring time.
"""

from __future__ import annotations

import numpy as np

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


def _ratio(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    """Return numerator / denominator, NaN where the denominator is zero or missing."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(denominator > 0, numerator / denominator, np.nan)


def _local_hours(c: Columns) -> np.ndarray:
    """Return hours since the epoch in the shipping address's solar time, else in UTC."""
    offset = np.nan_to_num(c["shipping_lon"] / 15.0, nan=0.0)
    return c["created_at"] / MS_PER_HOUR + offset


def _local_hour(c: Columns) -> np.ndarray:
    """Return the hour of day where the order ships to (solar, from its longitude), else UTC."""
    return _local_hours(c) % 24.0


def _local_weekday(c: Columns) -> np.ndarray:
    """Return the weekday (0 Monday) where the order ships to, else in UTC (1970-01-01: Thu)."""
    days = np.floor(_local_hours(c) / 24.0)
    return (days + 3) % 7


def _local_time_unknown(c: Columns) -> np.ndarray:
    """Return 1.0 where no location gives the local time (hour and weekday read in UTC)."""
    return np.isnan(c["shipping_lon"]).astype(float)


RISK_ENTITIES: tuple[tuple[str, Family], ...] = (
    ("device", "device"),
    ("ip", "network"),
    ("payment", "payment"),
)


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
        lambda c: np.minimum(_ratio(c[fraud], c[labelled]), 1.0),
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
        lambda c: _ratio(c["amount_reporting"], c["customer_amount_mean"]),
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
        lambda c: _ratio(c["limited_quantity"], c["item_count"]),
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
        reads=("shipping_lon",),
    ),
    Derived(
        "local_weekday",
        ("created_at",),
        _local_weekday,
        "the order was placed on weekday {value:.0f} (0 is Monday), local time",
        family="order",
        reads=("shipping_lon",),
    ),
    Derived(
        "local_time_unknown",
        ("created_at",),
        _local_time_unknown,
        "no location gives the order's local time: its hour and weekday are in UTC",
        "the order's local time comes from its shipping location",
        family="order",
        reads=("shipping_lon",),
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
        _risk(entity, window, words, family)
        for entity, family in RISK_ENTITIES
        for window, words in (("1d", "day"), ("7d", "7 days"), ("30d", "30 days"))
    ),
)
