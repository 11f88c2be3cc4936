"""The decided orders as training data: each order as it arrived and its latest label."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, func, select

from features.spec import Stream
from service.persistence.audit_rows import PersonalValueRow
from service.persistence.db import translate_errors
from service.persistence.personal import stored_value
from service.persistence.records import DecisionRecord, PersonalValue
from service.persistence.tables import DecisionRow, LabelRow, PaymentOutcomeRow

RECORD_FIELDS = tuple(
    f.name for f in dataclasses.fields(DecisionRecord) if f.name != "personal_values"
)

BATCH = 5_000


@dataclass(frozen=True)
class DecidedOrder:
    """One scored order as it arrived (erased values as None), and what became known since."""

    order: dict[str, Any]
    decided_at: datetime
    label: str | None
    reason: str | None
    label_known_at: datetime | None
    declined: bool


@translate_errors
def decided_orders(engine: Engine) -> Iterator[DecidedOrder]:
    """Yield every stored decision's order with its latest label (a later one replaces it)."""
    with engine.connect() as connection:
        labels: dict[str, tuple[str | None, str | None, datetime | None]] = {}
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
            select(DecisionRow).order_by(DecisionRow.decided_at, DecisionRow.id)
        )
        for batch in rows.partitions():
            values = _personal_values(connection, [row.id for row in batch])
            for row in batch:
                record = DecisionRecord(
                    **{name: getattr(row, name) for name in RECORD_FIELDS},
                    personal_values=values.get(row.id, {}),
                )
                known = labels.get(row.order_id) or (None, None, None)
                yield DecidedOrder(
                    record.order,
                    record.decided_at,
                    known[0],
                    known[1],
                    known[2],
                    declined=row.order_id in declined,
                )


def _personal_values(
    connection: Connection, decision_ids: list[str]
) -> dict[str, dict[str, PersonalValue]]:
    found: dict[str, dict[str, PersonalValue]] = {}
    rows = connection.execute(
        select(PersonalValueRow).where(PersonalValueRow.decision_id.in_(decision_ids))
    )
    for row in rows:
        found.setdefault(row.decision_id, {})[row.path] = PersonalValue(
            stored_value(row.value), row.erased_at, row.erased_by
        )
    return found


@translate_errors
def later_events(engine: Engine) -> Iterator[tuple[str, Stream, datetime, str | None]]:
    """Yield the events after a decision that count in the features, as the online path counts them.

    Each payment decline counts at its known time, keyed by its stored id (two
    can share a moment), and an order's first fraud label (the first stored) at
    its own (`service.labels.service`).
    """
    with engine.connect() as connection:
        declines = select(
            PaymentOutcomeRow.order_id, PaymentOutcomeRow.known_at, PaymentOutcomeRow.id
        ).where(PaymentOutcomeRow.status == "declined")
        for order_id, known_at, outcome_id in connection.execute(declines):
            yield order_id, Stream.DECLINES, known_at, str(outcome_id)
        first_fraud = (
            select(func.min(LabelRow.id))
            .where(LabelRow.label == "fraud")
            .group_by(LabelRow.order_id)
        )
        frauds = select(LabelRow.order_id, LabelRow.known_at).where(LabelRow.id.in_(first_fraud))
        for order_id, known_at in connection.execute(frauds):
            yield order_id, Stream.FRAUD, known_at, None
