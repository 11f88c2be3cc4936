"""Every SQL statement of the service: decisions, review cases, labels, outcomes, outbox.

Each function takes the `Engine` and runs as its own transaction. Connection
failures surface as `DatabaseUnavailable`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, cast
from uuid import uuid4

from sqlalchemy import Engine, bindparam, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from service.persistence.chain import GENESIS, json_round_trip, link_hash, normalize, utc
from service.persistence.db import CHAIN_LOCK, lock, translate_errors, writing
from service.persistence.errors import CaseClosed, InvalidRecord, NotFound
from service.persistence.outbox import append_event
from service.persistence.records import (
    CaseStatus,
    DecisionRecord,
    Label,
    LabelSource,
    LabelValue,
    NewDecision,
    PaymentOutcome,
    PaymentStatus,
    ReviewCase,
    from_row,
)
from service.persistence.review import DEFAULT_SLA, insert_links, open_review
from service.persistence.tables import (
    DecisionRow,
    FeatureUpdateRow,
    LabelRow,
    PaymentOutcomeRow,
    ReviewCaseRow,
)


def _now() -> datetime:
    return datetime.now(UTC)


def _one_of(value: str, allowed: Iterable[str], name: str) -> None:
    if value not in allowed:
        raise InvalidRecord(f"{name} must be one of {sorted(allowed)}, got {value!r}")


DECISIONS = DecisionRow.__table__
# Core statements, built once: the scoring path runs them on every order, and the
# ORM's unit of work would cost more than the SQL itself.
DECISION_BY_ORDER = select(DECISIONS).where(DECISIONS.c.order_id == bindparam("order_id"))
CHAIN_TIP = select(DECISIONS.c.seq, DECISIONS.c.hash).order_by(DECISIONS.c.seq.desc()).limit(1)


@translate_errors
def save_decision(
    engine: Engine,
    new: NewDecision,
    open_case: bool,
    *,
    sla: timedelta = DEFAULT_SLA,
    links: Mapping[str, str | None] | None = None,
) -> tuple[DecisionRecord, bool]:
    """Append the decision to the hash chain, once per order; return it and whether it is new.

    In the same transaction: the review case and the frozen stock hold (when
    `open_case`), the order's entity links, and the outbox events that tell the
    order system. A repeated order_id returns the stored decision unchanged.
    """
    fields = normalize(new)
    try:
        with writing(engine) as connection:
            lock(connection, CHAIN_LOCK)
            last = connection.execute(CHAIN_TIP).first()
            fields = {
                "id": uuid4().hex,
                "seq": last.seq + 1 if last else 1,
                **fields,
                "prev_hash": last.hash if last else GENESIS,
            }
            fields["hash"] = link_hash(fields)
            connection.execute(insert(DecisionRow), fields)
            record = DecisionRecord(**fields)
            if links:
                insert_links(connection, new.order_id, new.created_at, links)
            append_event(connection, "decision.created", new.order_id, decision_event(record))
            if open_case:
                open_review(connection, record, sla)
        return record, True
    except IntegrityError:
        # The order id is unique: a concurrent caller stored this order first, and its
        # row is the answer (the unique index is the check, not a query per decision).
        existing = decision_by_order(engine, new.order_id)
        if existing is None:
            raise
        return existing, False


def decision_event(record: DecisionRecord) -> dict[str, Any]:
    """Return what a `decision.created` event tells: the decision as the API answers it."""
    return {
        "order_id": record.order_id,
        "decision_id": record.id,
        "score": record.score,
        "tier": record.tier,
        "action": record.action,
        "stock": {"freeze": record.freeze, "reason": record.freeze_reason},
        "reasons": record.reasons,
        "model": {"name": record.model_name, "version": record.model_version},
        "degraded": record.degraded,
        "decided_at": record.decided_at.isoformat(),
    }


@translate_errors
def decision_by_order(engine: Engine, order_id: str) -> DecisionRecord | None:
    """Return the stored decision of an order, or None."""
    with engine.connect() as connection:
        row = connection.execute(DECISION_BY_ORDER, {"order_id": order_id}).first()
        return None if row is None else from_row(DecisionRecord, row)


@translate_errors
def verify_chain(engine: Engine) -> int | None:
    """Return the seq of the first decision whose link does not verify, or None if all do.

    Catches edited and deleted rows; removing the newest rows leaves a shorter,
    still valid chain, so keep the last hash somewhere else to detect that.
    """
    expected_prev = GENESIS
    with Session(engine) as session:
        rows = session.scalars(
            select(DecisionRow).order_by(DecisionRow.seq).execution_options(yield_per=500)
        )
        for row in rows:
            fields = dataclasses.asdict(from_row(DecisionRecord, row))
            if row.prev_hash != expected_prev or link_hash(fields) != row.hash:
                return row.seq
            expected_prev = row.hash
    return None


@translate_errors
def case_for_order(engine: Engine, order_id: str) -> ReviewCase | None:
    """Return the review case of an order, or None."""
    with Session(engine) as session:
        row = session.scalars(select(ReviewCaseRow).filter_by(order_id=order_id)).first()
        return None if row is None else from_row(ReviewCase, row)


@translate_errors
def open_cases(engine: Engine, limit: int = 100) -> list[ReviewCase]:
    """Return the open review cases, oldest first."""
    with Session(engine) as session:
        rows = session.scalars(
            select(ReviewCaseRow)
            .filter_by(status="open")
            .order_by(ReviewCaseRow.opened_at, ReviewCaseRow.id)
            .limit(limit)
        )
        return [from_row(ReviewCase, row) for row in rows]


@translate_errors
def close_case(
    engine: Engine, case_id: str, status: CaseStatus, reviewer: str, note: str | None = None
) -> ReviewCase:
    """Approve or reject an open case; raise `CaseClosed` if someone already did."""
    _one_of(status, ("approved", "rejected"), "status")
    with writing(engine) as connection, Session(connection) as session:
        # One conditional UPDATE, so two reviewers racing cannot both close the case.
        closed = session.execute(
            update(ReviewCaseRow)
            .where(ReviewCaseRow.id == case_id, ReviewCaseRow.status == "open")
            .values(status=status, closed_at=_now(), reviewer=reviewer, note=note)
            .returning(ReviewCaseRow.id)
        ).first()
        row = session.get(ReviewCaseRow, case_id, populate_existing=True)
        if row is None:
            raise NotFound(f"no review case {case_id}")
        if closed is None:
            raise CaseClosed(f"review case {case_id} is already {row.status}")
        return from_row(ReviewCase, row)


@translate_errors
def save_label(
    engine: Engine,
    order_id: str,
    label: LabelValue,
    reason: str | None,
    known_at: datetime,
    source: LabelSource,
) -> int:
    """Store a label of an order and return its id."""
    _one_of(label, ("fraud", "legit"), "label")
    _one_of(source, ("api", "file", "review"), "source")
    row = LabelRow(
        order_id=order_id,
        label=label,
        reason=reason,
        known_at=utc(known_at, "known_at"),
        received_at=_now(),
        source=source,
    )
    return _insert(engine, row)


@translate_errors
def labels_for_order(engine: Engine, order_id: str) -> list[Label]:
    """Return the labels of an order in the order they became known."""
    with Session(engine) as session:
        rows = session.scalars(
            select(LabelRow).filter_by(order_id=order_id).order_by(LabelRow.known_at, LabelRow.id)
        )
        return [from_row(Label, row) for row in rows]


@translate_errors
def save_payment_outcome(
    engine: Engine, order_id: str, status: PaymentStatus, known_at: datetime
) -> int:
    """Store the payment outcome of an order and return its id."""
    _one_of(status, ("declined", "authorized"), "status")
    row = PaymentOutcomeRow(
        order_id=order_id, status=status, known_at=utc(known_at, "known_at"), received_at=_now()
    )
    return _insert(engine, row)


@translate_errors
def payment_outcomes_for_order(engine: Engine, order_id: str) -> list[PaymentOutcome]:
    """Return the payment outcomes of an order in the order they became known."""
    with Session(engine) as session:
        rows = session.scalars(
            select(PaymentOutcomeRow)
            .filter_by(order_id=order_id)
            .order_by(PaymentOutcomeRow.known_at, PaymentOutcomeRow.id)
        )
        return [from_row(PaymentOutcome, row) for row in rows]


@translate_errors
def enqueue_feature_update(engine: Engine, payload: dict[str, Any], error: str) -> int:
    """Queue an online-store write that failed with `error`; that failure counts as attempt 1."""
    stored = cast(dict[str, Any], json_round_trip(payload))
    row = FeatureUpdateRow(
        created_at=_now(), payload=stored, attempts=1, last_error=error, done_at=None
    )
    return _insert(engine, row)


@translate_errors
def due_feature_updates(engine: Engine, limit: int = 100) -> list[tuple[int, dict[str, Any]]]:
    """Return the queued updates not applied yet, oldest first.

    Rows are not claimed: run one drainer at a time, or two could apply the same update.
    """
    with Session(engine) as session:
        rows = session.execute(
            select(FeatureUpdateRow.id, FeatureUpdateRow.payload)
            .where(FeatureUpdateRow.done_at.is_(None))
            .order_by(FeatureUpdateRow.id)
            .limit(limit)
        )
        return [(row.id, row.payload) for row in rows]


@translate_errors
def mark_feature_update(engine: Engine, id: int, done: bool, error: str | None) -> None:
    """Record one more attempt at a queued update: applied (`done`) or failed with `error`."""
    with writing(engine) as connection, Session(connection) as session:
        changed = session.execute(
            update(FeatureUpdateRow)
            .where(FeatureUpdateRow.id == id)
            .values(
                attempts=FeatureUpdateRow.attempts + 1,
                last_error=error,
                done_at=_now() if done else None,
            )
            .returning(FeatureUpdateRow.id)
        ).first()
        if changed is None:
            raise NotFound(f"no queued feature update {id}")


def _insert(engine: Engine, row: LabelRow | PaymentOutcomeRow | FeatureUpdateRow) -> int:
    with writing(engine) as connection, Session(connection) as session:
        session.add(row)
        session.flush()
        return row.id
