"""Canonical order rows turned into the score requests the order system sends."""

from __future__ import annotations

import math
from typing import Any

import pandas as pd

from features.catalog import current


def _present(value: Any) -> bool:
    return (
        value is not None
        and value is not pd.NA
        and not (isinstance(value, float) and math.isnan(value))
    )


def _iso(value: Any) -> str | None:
    return pd.Timestamp(value).isoformat() if _present(value) else None


def _items(total: int, limited: int, largest: int) -> list[dict[str, Any]]:
    """Return SKU lines whose totals and largest quantity match the canonical summary."""
    lines: list[dict[str, Any]] = []
    for quantity_left, is_limited in ((limited, True), (total - limited, False)):
        while quantity_left > 0:
            quantity = min(largest, quantity_left)
            lines.append(
                {
                    "sku": f"{'L' if is_limited else 'S'}-{len(lines)}",
                    "quantity": quantity,
                    "unit_price": "1.00",
                    "limited_stock": is_limited,
                }
            )
            quantity_left -= quantity
    return lines


def order_payload(row: pd.Series) -> dict[str, Any]:
    """Return the score request for one canonical order row."""

    def get(name: str) -> Any:
        value = row.get(name)
        return value if _present(value) else None

    address = None
    if get("shipping_address_id"):
        address = {
            "id": get("shipping_address_id"),
            "country": get("shipping_country") or "DE",
            "latitude": get("shipping_lat"),
            "longitude": get("shipping_lon"),
        }
    billing = None
    if get("billing_address_id"):
        billing = {"id": get("billing_address_id"), "country": get("billing_country") or "DE"}
    payment = None
    if get("payment_id"):
        payment = {
            "account_id": get("payment_id"),
            "card_bin": get("card_bin"),
            "last4": get("card_last4"),
            "card_country": get("card_country"),
        }
    return {
        "order_id": row["order_id"],
        "created_at": _iso(row["created_at"]),
        "customer": {
            "id": row["customer_id"],
            "email": get("email"),
            "phone": get("phone"),
            "account_created_at": _iso(get("customer_created_at")),
            "time_zone": get("time_zone"),
        },
        "device": {
            "fingerprint": get("device_id"),
            "user_agent": get("user_agent"),
            "emulator": bool(get("is_emulator") or False),
        }
        if get("device_id")
        else None,
        "ip": get("ip"),
        "payment": payment,
        "shipping_address": address,
        "billing_address": billing,
        "items": _items(
            int(row["item_count"]), int(row["limited_quantity"]), int(row["max_item_quantity"])
        ),
        "amount": f"{float(row['amount']):.2f}",
        "currency": get("currency") or "EUR",
        "attributes": _attributes(row),
    }


def _attributes(row: pd.Series) -> dict[str, Any]:
    """Return the feature pack's columns the row holds, as JSON values."""
    out: dict[str, Any] = {}
    for column in current().extra_columns:
        value: Any = row.get(column.name)
        if _present(value):
            out[column.name] = value.item() if hasattr(value, "item") else value
    return out
