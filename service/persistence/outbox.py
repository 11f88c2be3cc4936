"""The transactional outbox: events written in the same transaction as the change they tell of.

Delivery (`service.webhooks`) reads them afterwards, at least once, in `id`
order, which is also the order of the changes of one order id.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, insert

from service.persistence.chain import json_round_trip
from service.persistence.tables import OutboxEventRow

EVENT_KINDS = (
    "decision.created",
    "stock.frozen",
    "stock.released",
    "stock.cancelled",
    "stock.expired",
)


def append_event(connection: Connection, kind: str, order_id: str, data: dict[str, Any]) -> None:
    """Add an event to the outbox inside the caller's transaction."""
    if kind not in EVENT_KINDS:
        raise ValueError(f"unknown event kind {kind!r}")
    connection.execute(
        insert(OutboxEventRow),
        {
            "kind": kind,
            "order_id": order_id,
            "payload": json_round_trip(data),
            "created_at": datetime.now(UTC),
        },
    )
