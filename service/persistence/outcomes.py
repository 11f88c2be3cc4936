"""A reviewer's outcome, in one transaction: the case closes, the stock moves, the label lands.

Approve releases the frozen stock and labels the order `legit`; reject cancels
it and labels it `fraud` with its scenario; an expired SLA moves the stock to
`expired` with the operator's outcome and leaves no label. The outbox events
of the stock transition are written by the same transaction.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Literal

from sqlalchemy import Engine

from service.persistence.cases import (
    SYSTEM,
    Actor,
    add_label,
    close,
    escalate,
    held_by,
    load_case,
)
from service.persistence.db import translate_errors, writing
from service.persistence.errors import CaseClosed
from service.persistence.label_walk import LabelStep, lock_labels, owe_label_step
from service.persistence.records import ReviewCase
from service.persistence.stock import ExpiryOutcome, move

Outcome = Literal["approve", "reject"]
# outcome → (case status, stock state, label)
OUTCOMES: dict[
    Outcome, tuple[Literal["approved", "rejected"], Literal["released", "cancelled"], str]
] = {
    "approve": ("approved", "released", "legit"),
    "reject": ("rejected", "cancelled", "fraud"),
}


@translate_errors
def decide_case(
    engine: Engine,
    case_id: str,
    actor: Actor,
    outcome: Outcome,
    reason_code: str,
    note: str | None = None,
    scenario: str | None = None,
    now: datetime | None = None,
) -> tuple[ReviewCase, tuple[LabelStep, ...]]:
    """Approve or reject a case the actor holds (or that is free).

    Return the closed case and the steps its label made on the order's counts
    (`label_walk`), owed in this transaction: the caller may apply them at once.
    """
    now = now or datetime.now(UTC)
    status, stock_state, label = OUTCOMES[outcome]
    with writing(engine) as connection:
        current = held_by(connection, case_id, actor, now)
        close(connection, current, status, actor, now, reason_code, note, scenario)
        move(connection, current.order_id, stock_state, actor.name, reason_code)
        lock_labels(connection, current.order_id)
        label_id = add_label(connection, current.order_id, label, scenario or reason_code, now)
        # What the label does to the order's counts is owed by this same transaction,
        # so a crash after the commit leaves it in the outbox the service drains.
        steps = owe_label_step(connection, current.order_id, label, now, label_id)
        return load_case(connection, case_id), steps


@translate_errors
def escalate_case(
    engine: Engine,
    case_id: str,
    actor: Actor,
    reason_code: str,
    note: str | None = None,
    now: datetime | None = None,
) -> ReviewCase:
    """Hand a case to the senior reviewers; it stays open and frozen."""
    now = now or datetime.now(UTC)
    with writing(engine) as connection:
        current = held_by(connection, case_id, actor, now)
        if current.level == "senior_reviewer":
            raise CaseClosed(f"review case {case_id} is already with the senior reviewers")
        escalate(connection, current, actor, now, reason_code, note)
        return load_case(connection, case_id)


@translate_errors
def expire_case(
    engine: Engine, case_id: str, outcome: ExpiryOutcome, now: datetime | None = None
) -> bool:
    """Close a case whose SLA ran out; return False if it was closed meanwhile."""
    now = now or datetime.now(UTC)
    with writing(engine) as connection:
        current = load_case(connection, case_id, lock=True)
        if current.status != "open" or current.sla_due_at > now:
            return False
        reason = f"SLA ran out: stock {'released' if outcome == 'release' else 'cancelled'}"
        close(connection, current, "expired", SYSTEM, now, "sla_expired", reason, None)
        move(connection, current.order_id, "expired", SYSTEM.name, reason, outcome)
        return True
