"""Helpers of the hostile-input tests: a valid order near now, and what the database holds."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select, table

from service.persistence import make_engine
from service.settings import ServiceSettings

# Every table a request could write to; the audit log counts with its pending entries.
WRITTEN = (
    "decisions",
    "labels",
    "payment_outcomes",
    "personal_values",
    "outbox_events",
    "feature_updates",
    "review_cases",
    "audit_pending",
    "audit_log",
)


def iso(moment: datetime) -> str:
    """Return a time as a request sends it."""
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def ago(**delta: float) -> datetime:
    """Return now less a time span."""
    return datetime.now(UTC) - timedelta(**delta)


def valid_order(
    order_id: str, created_at: datetime | None = None, account: str = "pay-hostile"
) -> dict[str, Any]:
    """Return a complete, valid score request created an hour ago (or at `created_at`)."""
    return {
        "order_id": order_id,
        "created_at": iso(created_at or ago(hours=1)),
        "customer": {
            "id": f"cust-{order_id}",
            "email": "buyer@shop.test",
            "phone": "+49 30 1234567",
            "account_created_at": "2024-05-01T08:00:00Z",
        },
        "device": {"fingerprint": f"dev-{order_id}", "user_agent": "Mozilla/5.0 (X11)"},
        "ip": "198.51.100.7",
        "payment": {
            "account_id": account,
            "card_bin": "424242",
            "last4": "4242",
            "card_country": "DE",
        },
        "shipping_address": {"country": "DE", "city": "Berlin", "lines": ["Unter den Linden 1"]},
        "items": [{"sku": "sku-1", "quantity": 1, "unit_price": "499.00"}],
        "amount": "499.00",
        "currency": "EUR",
    }


def written(settings: ServiceSettings) -> dict[str, int]:
    """Return the row count of every table a request could write to."""
    engine = make_engine(settings.db_url)
    try:
        with engine.connect() as connection:
            counts = {
                name: int(
                    connection.execute(select(func.count()).select_from(table(name))).scalar_one()
                )
                for name in WRITTEN
            }
    finally:
        engine.dispose()
    # The sequencer moves pending entries into the log at any moment: count them together.
    counts["audit"] = counts.pop("audit_pending") + counts.pop("audit_log")
    return counts


def fields_named(response: Any) -> list[str]:
    """Return the fields a 422 names, checking the one error shape on the way."""
    assert response.status_code == 422, response.text
    body = response.json()
    assert body["error"] == "invalid_request", body
    return [item["field"] for item in body["detail"]]
