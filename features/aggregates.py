"""The entity aggregates: over 35 indicators on five entities, each declared once."""

from __future__ import annotations

from datetime import timedelta
from typing import NamedTuple

from features.spec import (
    ADDRESS,
    CUSTOMER,
    DAY,
    DEVICE,
    HOUR,
    IP_CLUSTER,
    PAYMENT,
    Agg,
    Aggregate,
    Entity,
    Stream,
)


def _a(name: str, entity: Entity, agg: Agg, text: str, **kw: object) -> Aggregate:
    return Aggregate(name, entity, agg, text, **kw)  # type: ignore[arg-type]


# Entity risk is read over these windows: fraud among the labels that became known in one.
RISK_WINDOWS: dict[str, timedelta] = {"1d": DAY, "7d": 7 * DAY, "30d": 30 * DAY}
WINDOW_WORDS = {"1d": "day", "7d": "7 days", "30d": "30 days"}


class RiskEntity(NamedTuple):
    """An entity whose risk is read (`features.derived`): its features' prefix, whose orders."""

    prefix: str
    entity: Entity
    whose: str


RISK_ENTITIES = (
    RiskEntity("device", DEVICE, "from this device"),
    RiskEntity("ip", IP_CLUSTER, "from this network"),
    RiskEntity("payment", PAYMENT, "on this payment account"),
)


def _risk_counts(entity: Entity, prefix: str, whose: str) -> tuple[Aggregate, ...]:
    """Return the entity's labelled and fraud counts over every risk window (30 d fraud aside)."""
    labelled = tuple(
        _a(f"{prefix}_labelled_{w}", entity, Agg.COUNT, f"{{value:.0f}} orders {whose} got a label in the last {WINDOW_WORDS[w]}", window=length, stream=Stream.LABELS)
        for w, length in RISK_WINDOWS.items()
    )
    fraud = tuple(
        _a(f"{prefix}_fraud_{w}", entity, Agg.COUNT, f"{{value:.0f}} orders {whose} were confirmed fraud in the last {WINDOW_WORDS[w]}", window=length, stream=Stream.FRAUD)
        for w, length in RISK_WINDOWS.items()
        if w != "30d"
    )
    return labelled + fraud


def _spending(entity: Entity, prefix: str, whose: str) -> tuple[Aggregate, ...]:
    """Return the entity's order count, mean and largest amount over a day and a week."""
    out: list[Aggregate] = []
    for w, length in (("1d", DAY), ("7d", 7 * DAY)):
        words = WINDOW_WORDS[w]
        out += [
            _a(f"{prefix}_amount_mean_{w}", entity, Agg.MEAN, f"orders {whose} averaged {{value:.2f}} (reporting currency) over the last {words}", window=length, of="amount_reporting"),
            _a(f"{prefix}_amount_max_{w}", entity, Agg.MAX, f"the largest order {whose} in the last {words} was {{value:.2f}} (reporting currency)", window=length, of="amount_reporting"),
        ]
    return tuple(out)


AGGREGATES: tuple[Aggregate, ...] = (
    # device
    _a("device_accounts_1h", DEVICE, Agg.DISTINCT, "this device was used by {value:.0f} accounts in the last hour", window=HOUR, of="customer_id"),
    _a("device_accounts_24h", DEVICE, Agg.DISTINCT, "this device was used by {value:.0f} accounts in the last 24 hours", window=DAY, of="customer_id"),
    _a("device_orders_1h", DEVICE, Agg.COUNT, "this device placed {value:.0f} orders in the last hour", window=HOUR),
    _a("device_orders_30d", DEVICE, Agg.COUNT, "this device placed {value:.0f} orders in the last 30 days", window=30 * DAY),
    _a("device_cards_24h", DEVICE, Agg.DISTINCT, "this device used {value:.0f} payment accounts in the last 24 hours", window=DAY, of="payment_id"),
    _a("device_age_hours", DEVICE, Agg.HOURS_SINCE_FIRST, "this device was first seen {value:.1f} hours ago"),
    _a("device_fraud_30d", DEVICE, Agg.COUNT, "{value:.0f} orders from this device were confirmed fraud in the last 30 days", window=30 * DAY, stream=Stream.FRAUD),
    # IP cluster
    _a("ip_accounts_1h", IP_CLUSTER, Agg.DISTINCT, "{value:.0f} accounts ordered from this network in the last hour", window=HOUR, of="customer_id"),
    _a("ip_accounts_24h", IP_CLUSTER, Agg.DISTINCT, "{value:.0f} accounts ordered from this network in the last 24 hours", window=DAY, of="customer_id"),
    _a("ip_devices_1h", IP_CLUSTER, Agg.DISTINCT, "{value:.0f} devices ordered from this network in the last hour", window=HOUR, of="device_id"),
    _a("ip_orders_1h", IP_CLUSTER, Agg.COUNT, "this network placed {value:.0f} orders in the last hour", window=HOUR),
    _a("ip_orders_30d", IP_CLUSTER, Agg.COUNT, "this network placed {value:.0f} orders in the last 30 days", window=30 * DAY),
    _a("ip_limited_units_1h", IP_CLUSTER, Agg.SUM, "this network bought {value:.0f} limited-stock units in the last hour", window=HOUR, of="limited_quantity"),
    _a("ip_hosting_share_7d", IP_CLUSTER, Agg.MEAN, "{value:.0%} of this network's orders in 7 days came from datacenter or proxy addresses", window=7 * DAY, of="ip_is_hosting"),
    _a("ip_fraud_30d", IP_CLUSTER, Agg.COUNT, "{value:.0f} orders from this network were confirmed fraud in the last 30 days", window=30 * DAY, stream=Stream.FRAUD),
    # payment account
    _a("payment_orders_24h", PAYMENT, Agg.COUNT, "this payment account was used for {value:.0f} orders in the last 24 hours", window=DAY),
    _a("payment_orders_30d", PAYMENT, Agg.COUNT, "this payment account was used for {value:.0f} orders in the last 30 days", window=30 * DAY),
    _a("payment_declines_1h", PAYMENT, Agg.COUNT, "this payment account was declined {value:.0f} times in the last hour", window=HOUR, stream=Stream.DECLINES),
    _a("payment_declines_7d", PAYMENT, Agg.COUNT, "this payment account was declined {value:.0f} times in the last 7 days", window=7 * DAY, stream=Stream.DECLINES),
    _a("payment_devices_7d", PAYMENT, Agg.DISTINCT, "this payment account was used on {value:.0f} devices in the last 7 days", window=7 * DAY, of="device_id"),
    _a("payment_addresses_30d", PAYMENT, Agg.DISTINCT, "this payment account shipped to {value:.0f} addresses in the last 30 days", window=30 * DAY, of="shipping_address_id"),
    _a("payment_amount_mean_30d", PAYMENT, Agg.MEAN, "orders on this payment account averaged {value:.2f} (reporting currency) over 30 days", window=30 * DAY, of="amount_reporting"),
    _a("payment_amount_max_30d", PAYMENT, Agg.MAX, "the largest order on this payment account in 30 days was {value:.2f} (reporting currency)", window=30 * DAY, of="amount_reporting"),
    _a("payment_age_hours", PAYMENT, Agg.HOURS_SINCE_FIRST, "this payment account was first seen {value:.1f} hours ago"),
    _a("payment_fraud_30d", PAYMENT, Agg.COUNT, "{value:.0f} orders on this payment account were confirmed fraud in the last 30 days", window=30 * DAY, stream=Stream.FRAUD),
    # shipping address
    _a("address_accounts_7d", ADDRESS, Agg.DISTINCT, "{value:.0f} accounts shipped to this address in the last 7 days", window=7 * DAY, of="customer_id"),
    _a("address_accounts_30d", ADDRESS, Agg.DISTINCT, "{value:.0f} accounts shipped to this address in the last 30 days", window=30 * DAY, of="customer_id"),
    _a("address_cards_30d", ADDRESS, Agg.DISTINCT, "{value:.0f} payment accounts shipped to this address in the last 30 days", window=30 * DAY, of="payment_id"),
    _a("address_orders_24h", ADDRESS, Agg.COUNT, "{value:.0f} orders shipped to this address in the last 24 hours", window=DAY),
    _a("address_age_hours", ADDRESS, Agg.HOURS_SINCE_FIRST, "this address was first used {value:.1f} hours ago"),
    _a("address_fraud_30d", ADDRESS, Agg.COUNT, "{value:.0f} orders to this address were confirmed fraud in the last 30 days", window=30 * DAY, stream=Stream.FRAUD),
    # customer
    _a("customer_orders", CUSTOMER, Agg.COUNT, "this account placed {value:.0f} orders before"),
    _a("customer_orders_24h", CUSTOMER, Agg.COUNT, "this account placed {value:.0f} orders in the last 24 hours", window=DAY),
    _a("customer_amount_mean", CUSTOMER, Agg.MEAN, "this account's orders averaged {value:.2f} (reporting currency)", of="amount_reporting"),
    _a("customer_devices", CUSTOMER, Agg.DISTINCT, "this account used {value:.0f} devices before", of="device_id"),
    _a("customer_addresses", CUSTOMER, Agg.DISTINCT, "this account shipped to {value:.0f} addresses before", of="shipping_address_id"),
    _a("customer_hours_since_last_order", CUSTOMER, Agg.HOURS_SINCE_LAST, "this account's previous order was {value:.1f} hours ago"),
    _a("customer_fraud", CUSTOMER, Agg.COUNT, "{value:.0f} of this account's orders were confirmed fraud", stream=Stream.FRAUD),
    _a("customer_orders_7d", CUSTOMER, Agg.COUNT, "this account placed {value:.0f} orders in the last 7 days", window=7 * DAY),
    _a("customer_orders_30d", CUSTOMER, Agg.COUNT, "this account placed {value:.0f} orders in the last 30 days", window=30 * DAY),
    _a("customer_amount_mean_30d", CUSTOMER, Agg.MEAN, "this account's orders averaged {value:.2f} (reporting currency) over 30 days", window=30 * DAY, of="amount_reporting"),
    _a("customer_amount_max_30d", CUSTOMER, Agg.MAX, "this account's largest order in 30 days was {value:.2f} (reporting currency)", window=30 * DAY, of="amount_reporting"),
    _a("payment_orders_7d", PAYMENT, Agg.COUNT, "this payment account was used for {value:.0f} orders in the last 7 days", window=7 * DAY),
    *_spending(CUSTOMER, "customer", "of this account"),
    *_spending(PAYMENT, "payment", "on this payment account"),
    *(a for risk in RISK_ENTITIES for a in _risk_counts(risk.entity, risk.prefix, risk.whose)),
)
