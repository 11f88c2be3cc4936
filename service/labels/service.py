"""Labels and payment outcomes: stored, and folded into the entities' label-based features."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Literal

from sqlalchemy import Engine

from features.columns import moment_ms
from features.spec import Stream
from service.errors import NotFound
from service.labels.schemas import LabelIn, LabelOut, PaymentOutcomeIn, PaymentOutcomeOut
from service.persistence import (
    decision_by_order,
    labels_for_order,
    save_label,
    save_payment_outcome,
)
from service.scoring.service import ScoringService


def record_label(
    engine: Engine,
    scoring: ScoringService,
    label: LabelIn,
    source: Literal["api", "file", "review"],
) -> LabelOut:
    """Store a label; a first fraud label counts on the order's entities from its known time."""
    decision = decision_by_order(engine, label.order_id)
    if decision is None:
        raise NotFound(f"no decision for order {label.order_id!r}: labels attach to scored orders")
    known_at = label.known_at or datetime.now(UTC)
    earlier_fraud = any(item.label == "fraud" for item in labels_for_order(engine, label.order_id))
    label_id = save_label(engine, label.order_id, label.label, label.reason, known_at, source)
    applies = label.label == "fraud" and not earlier_fraud
    if applies:
        scoring.record_event(decision, Stream.FRAUD, moment_ms(known_at))
    return LabelOut(
        id=label_id, order_id=label.order_id, label=label.label, applied_to_features=applies
    )


def record_payment(
    engine: Engine, scoring: ScoringService, order_id: str, outcome: PaymentOutcomeIn
) -> PaymentOutcomeOut:
    """Store a payment outcome; a decline counts on the order's entities from its known time."""
    decision = decision_by_order(engine, order_id)
    if decision is None:
        raise NotFound(f"no decision for order {order_id!r}")
    known_at = outcome.known_at or datetime.now(UTC)
    outcome_id = save_payment_outcome(engine, order_id, outcome.status, known_at)
    if outcome.status == "declined":
        scoring.record_event(decision, Stream.DECLINES, moment_ms(known_at))
    return PaymentOutcomeOut(id=outcome_id, order_id=order_id, status=outcome.status)
