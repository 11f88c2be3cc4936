"""Review cases: opening them with the decision, and the links the ring view reads.

The case copies what the queue sorts and filters on (score, amount, expected
loss, top reason and its family, SLA) from the decision as it opens, so the
queue reads one table.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import uuid4

from sqlalchemy import Connection, insert

from features.catalog import current
from service.persistence.records import DecisionRecord
from service.persistence.stock import freeze
from service.persistence.tables import ReviewCaseRow

DEFAULT_SLA = timedelta(hours=4)
# The entities whose shared use links orders in the ring view.
LINK_KINDS = ("device", "ip_cluster", "payment", "address")


def open_review(connection: Connection, record: DecisionRecord, sla: timedelta) -> None:
    """Open the decision's review case and freeze its stock, inside the caller's transaction."""
    amount = float(record.order_payload.get("amount") or 0.0)
    now = datetime.now(UTC)
    # ISO 4217 "no currency" for a payload without one (orders always carry one).
    currency = str(record.order_payload.get("currency") or "XXX")
    first = record.reasons[0] if record.reasons else None
    top = first.get("feature") if isinstance(first, dict) else None
    feature = current().by_name.get(top) if top else None
    connection.execute(
        insert(ReviewCaseRow),
        {
            "id": uuid4().hex,
            "decision_id": record.id,
            "order_id": record.order_id,
            "status": "open",
            "opened_at": now,
            "closed_at": None,
            "reviewer": None,
            "note": None,
            "tier": record.tier,
            "score": record.score,
            "amount": amount,
            "currency": currency,
            "expected_loss": record.score * amount,
            "top_reason": top,
            "top_family": feature.family if feature else None,
            "sla_due_at": now + sla,
            "level": "reviewer",
            "claimed_by": None,
            "claim_expires_at": None,
            "reason_code": None,
            "scenario": None,
        },
    )
    freeze(connection, record.order_id, record.id, "system", record.freeze_reason)


def link_rows(
    order_id: str, created_at: datetime, links: Mapping[str, str | None]
) -> list[dict[str, Any]]:
    """Return the rows of the entities an order used, for the ring view of later cases."""
    return [
        {"order_id": order_id, "kind": kind, "key": key, "created_at": created_at}
        for kind, key in links.items()
        if key and kind in LINK_KINDS
    ]
