"""Labels and payment outcomes: stored once per event, and folded into the entities' features."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Literal

from sqlalchemy import Engine

from features.columns import event_time_ms, moment_ms
from features.spec import Stream
from service.errors import InvalidInput, NotFound
from service.labels.schemas import LabelIn, LabelOut, PaymentOutcomeIn, PaymentOutcomeOut
from service.persistence import (
    DecisionRecord,
    decision_by_order,
    save_label_event,
    save_payment_event,
)
from service.persistence.chain import timestamp
from service.persistence.history import changing_labels
from service.scoring.service import ScoringService


def record_label(
    engine: Engine,
    scoring: ScoringService,
    label: LabelIn,
    source: Literal["api", "file", "review"],
) -> LabelOut:
    """Store a label once per event and apply what it does to the order's fraud count.

    A fraud label counts from its known time; a legitimate one after it withdraws it
    from its own (`service.persistence.label_walk`). A retry answers as the first call did.
    """
    decision = decision_by_order(engine, label.order_id)
    if decision is None:
        raise NotFound(f"no decision for order {label.order_id!r}: labels attach to scored orders")
    known_at = _known_at(label.known_at, decision)
    label_id, created, steps = save_label_event(
        engine,
        label.order_id,
        label.label,
        label.reason,
        known_at,
        source,
        event_key=_event_key(label.event_id, label.label, label.known_at),
        request_sha256=label.sha256(),
    )
    scoring.record_steps(decision, steps)
    return LabelOut(
        id=label_id,
        order_id=label.order_id,
        label=label.label,
        applied_to_features=bool(steps) if created else _applied(engine, label_id),
        event_id=label.event_id,
    )


def _applied(engine: Engine, label_id: int) -> bool:
    """Return whether a stored label changed its order's fraud count (for a retry's answer)."""
    return label_id in changing_labels(engine, [label_id])


def record_payment(
    engine: Engine, scoring: ScoringService, order_id: str, outcome: PaymentOutcomeIn
) -> PaymentOutcomeOut:
    """Store a payment outcome once per event; a decline counts a fixed delay after its order."""
    decision = decision_by_order(engine, order_id)
    if decision is None:
        raise NotFound(f"no decision for order {order_id!r}")
    known_at = _known_at(outcome.known_at, decision)
    # The decision keeps the order's own time (an erased order's update is skipped later).
    decline_ms = event_time_ms(Stream.DECLINES, moment_ms(decision.created_at), moment_ms(known_at))
    outcome_id, created, _ = save_payment_event(
        engine,
        order_id,
        outcome.status,
        known_at,
        event_key=_event_key(outcome.event_id, outcome.status, outcome.known_at),
        request_sha256=outcome.sha256(),
        decline_time_ms=decline_ms,
    )
    if created and outcome.status == "declined":
        # Keyed by the stored outcome: two declines of one order can share a moment.
        scoring.record_event(decision, Stream.DECLINES, decline_ms, str(outcome_id))
    return PaymentOutcomeOut(
        id=outcome_id, order_id=order_id, status=outcome.status, event_id=outcome.event_id
    )


def _known_at(sent: datetime | None, decision: DecisionRecord) -> datetime:
    """Return when the event became known; refuse a time before the order's creation.

    Unsent, it is now, or the order's creation when that lies ahead (within the clock skew).
    """
    if sent is None:
        return max(datetime.now(UTC), decision.created_at)
    if sent < decision.created_at:
        raise InvalidInput(
            "known_at",
            f"must not be before the order's creation ({timestamp(decision.created_at)})",
        )
    return sent


def _event_key(event_id: str | None, what: str, known_at: datetime | None) -> str | None:
    """Return the event's identity: its id, else its kind and known time, else none.

    A derived key starts with '#', which no event id can hold.
    """
    if event_id is not None:
        return event_id
    if known_at is not None:
        return f"#{what}#{timestamp(known_at)}"
    return None
