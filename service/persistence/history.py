"""The decided orders as training data: each order's canonical record and its latest label."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, select

from service.persistence.db import translate_errors
from service.persistence.tables import DecisionRow, LabelRow, PaymentOutcomeRow

BATCH = 5_000


@dataclass(frozen=True)
class DecidedOrder:
    """One scored order as it arrived, and what became known of it since."""

    canonical: dict[str, Any]
    label: str | None
    reason: str | None
    label_known_at: datetime | None
    declined: bool


@translate_errors
def decided_orders(engine: Engine) -> Iterator[DecidedOrder]:
    """Yield every stored decision's order with its latest label (a later one replaces it)."""
    with engine.connect() as connection:
        labels: dict[str, tuple[str, str | None, datetime]] = {}
        for order_id, label, reason, known_at in connection.execute(
            select(LabelRow.order_id, LabelRow.label, LabelRow.reason, LabelRow.known_at).order_by(
                LabelRow.known_at, LabelRow.id
            )
        ):
            labels[order_id] = (label, reason, known_at)
        declined = set(
            connection.execute(
                select(PaymentOutcomeRow.order_id).where(PaymentOutcomeRow.status == "declined")
            ).scalars()
        )
        rows = connection.execution_options(yield_per=BATCH).execute(
            select(DecisionRow.order_id, DecisionRow.order_payload).order_by(DecisionRow.seq)
        )
        for order_id, payload in rows:
            canonical = payload.get("canonical")
            if canonical is None:
                continue  # not stored by the scoring path: no canonical order to learn from
            found = labels.get(order_id)
            if found is None:
                yield DecidedOrder(canonical, None, None, None, order_id in declined)
            else:
                yield DecidedOrder(canonical, *found, declined=order_id in declined)
