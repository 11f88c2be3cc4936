"""The decided orders as training data: each order as it arrived and its latest label."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, select

from features.spec import Stream
from service.persistence.audit_rows import PersonalValueRow
from service.persistence.db import translate_errors
from service.persistence.label_walk import LabelWalk
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
    fraud_known_at: datetime | None = None
    """The withdrawn fraud label's time, while the label is legitimate after it."""
    labelled_at: datetime | None = None
    """When the order got its first label."""


@translate_errors
def decided_orders(engine: Engine) -> Iterator[DecidedOrder]:
    """Yield every stored decision's order with where its labels' walk ended."""
    with engine.connect() as connection:
        labels = _walks(connection)
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
                walked, reason = labels.get(row.order_id) or (LabelWalk(), None)
                yield DecidedOrder(
                    record.order,
                    record.decided_at,
                    walked.label,
                    reason,
                    walked.known_at,
                    declined=row.order_id in declined,
                    fraud_known_at=walked.fraud_known_at,
                    labelled_at=walked.labelled_at,
                )


def _walks(
    connection: Connection, order_ids: Iterable[str] | None = None
) -> dict[str, tuple[LabelWalk, str | None]]:
    """Return per order its labels' walk and the reason of the last label it took."""
    query = select(
        LabelRow.order_id, LabelRow.label, LabelRow.reason, LabelRow.known_at, LabelRow.id
    )
    if order_ids is not None:
        query = query.where(LabelRow.order_id.in_(list(order_ids)))
    walks: dict[str, tuple[LabelWalk, str | None]] = {}
    for order_id, label, reason, known_at, label_id in connection.execute(
        query.order_by(LabelRow.id)
    ):
        walked, kept = walks.get(order_id) or (LabelWalk(), None)
        after = walked.then(label, known_at, str(label_id))
        walks[order_id] = (after, kept if after is walked else reason)
    return walks


@translate_errors
def changing_labels(engine: Engine, label_ids: Iterable[int]) -> set[int]:
    """Return which of the given labels changed their order's fraud count when walked."""
    wanted = set(label_ids)
    with engine.connect() as connection:
        orders = connection.execute(
            select(LabelRow.order_id).where(LabelRow.id.in_(wanted)).distinct()
        ).scalars()
        walks = _walks(connection, list(orders))
    steps = {int(step.key) for walked, _ in walks.values() for step in walked.steps if step.key}
    return steps & wanted


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
def later_events(
    engine: Engine,
) -> Iterator[tuple[str, Stream, datetime, str | None, datetime | None]]:
    """Yield the events after a decision that count in the features, as the online path counts them.

    Each payment decline at its known time, keyed by its stored id (two can
    share a moment), and every step of an order's fraud count (its labels'
    walk, `service.persistence.label_walk`): a fraud label counted, or withdrawn
    (with the time of the label it withdraws).
    """
    with engine.connect() as connection:
        declines = select(
            PaymentOutcomeRow.order_id, PaymentOutcomeRow.known_at, PaymentOutcomeRow.id
        ).where(PaymentOutcomeRow.status == "declined")
        for order_id, known_at, outcome_id in connection.execute(declines):
            yield order_id, Stream.DECLINES, known_at, str(outcome_id), None
        for order_id, (walked, _) in _walks(connection).items():
            for step in walked.steps:
                yield order_id, step.stream, step.at, step.key, step.withdraws
