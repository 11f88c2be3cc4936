"""SQL of decisions, review cases and the outbox (labels and outcomes: `events`).

Each function takes the `Engine` and runs as its own transaction. Connection
failures surface as `DatabaseUnavailable`.
"""

from __future__ import annotations

import dataclasses
import threading
import weakref
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, bindparam, select, update
from sqlalchemy.orm import Session

from service.persistence import decision_rows
from service.persistence.db import translate_errors, writing
from service.persistence.decision_rows import PreparedDecision
from service.persistence.errors import (
    CaseClosed,
    ConflictingRequest,
    DatabaseUnavailable,
    InvalidRecord,
    NotFound,
)
from service.persistence.group_commit import GroupCommitter
from service.persistence.personal import values_of
from service.persistence.records import (
    CaseStatus,
    DecisionRecord,
    NewDecision,
    ReviewCase,
    from_row,
)
from service.persistence.review import DEFAULT_SLA
from service.persistence.tables import (
    DecisionRow,
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
# One group committer per engine (see `group_commit`), made on first use.
_COMMITTERS: weakref.WeakKeyDictionary[Engine, GroupCommitter[PreparedDecision, bool]] = (
    weakref.WeakKeyDictionary()
)
_COMMITTERS_MADE = threading.Lock()


def decision_committer(engine: Engine) -> GroupCommitter[PreparedDecision, bool]:
    """Return the engine's committer of decisions, which concurrent decisions share."""
    found = _COMMITTERS.get(engine)
    if found is None:
        with _COMMITTERS_MADE:
            found = _COMMITTERS.get(engine)
            if found is None:
                found = _COMMITTERS[engine] = GroupCommitter(engine, decision_rows.write)
    return found


@translate_errors
def save_decision(
    engine: Engine,
    new: NewDecision,
    open_case: bool,
    *,
    sla: timedelta = DEFAULT_SLA,
    links: Mapping[str, str | None] | None = None,
    personal: Iterable[str] = (),
) -> tuple[DecisionRecord, bool]:
    """Store the decision and its audit entry, once per order; return it and whether it is new.

    The values at the `personal` paths of the order are kept apart, each
    committed to by a salted hash. In the same transaction: the audit entry,
    the review case and the frozen stock hold (when `open_case`), the order's
    entity links, the outbox event that tells the order system, and the
    update the decision owes the online store's features. Decisions that
    arrive together share that transaction (`decision_committer`), and each
    returns once it is committed; no lock is taken beyond the rows added (the
    audit log's sequencer orders the entries later). A repeated order_id
    returns the stored decision unchanged, or, when both carry a request hash
    and the hashes differ, raises `ConflictingRequest` having written nothing.
    """
    prepared = decision_rows.prepare(new, open_case, sla, links, personal)
    if decision_committer(engine).submit(prepared):
        return prepared.record, True
    # The order id is unique: a concurrent caller stored this order first, and its row
    # is the answer (the unique index is the check, not a query per decision).
    existing = decision_by_order(engine, new.order_id)
    if existing is None:
        raise DatabaseUnavailable(f"order {new.order_id!r} is stored but could not be read")
    same_request(existing, new.request_sha256)
    return existing, False


def same_request(stored: DecisionRecord, request_sha256: str | None) -> None:
    """Refuse a repeated order id whose request differs from the stored one's.

    A decision stored before request hashes were kept (revision 0006) has none:
    a repeat of its order id gets it back whatever its body.
    """
    if stored.request_sha256 is None or request_sha256 is None:
        return
    if stored.request_sha256 != request_sha256:
        raise ConflictingRequest(
            f"order {stored.order_id!r} was decided (decision {stored.id}) from another "
            "request body: a changed order needs a new order_id",
            "decision",
            stored.id,
        )


def decision_record(connection: Connection, row: Any) -> DecisionRecord:
    """Return the record of a decision row, with its personal values read alongside."""
    names = (f.name for f in dataclasses.fields(DecisionRecord) if f.name != "personal_values")
    return DecisionRecord(
        **{name: getattr(row, name) for name in names},
        personal_values=values_of(connection, row.id),
    )


@translate_errors
def decision_by_order(engine: Engine, order_id: str) -> DecisionRecord | None:
    """Return the stored decision of an order, or None."""
    with engine.connect() as connection:
        row = connection.execute(DECISION_BY_ORDER, {"order_id": order_id}).first()
        return None if row is None else decision_record(connection, row)


@translate_errors
def decision_by_id(engine: Engine, decision_id: str) -> DecisionRecord | None:
    """Return a stored decision by its id, or None."""
    with engine.connect() as connection:
        row = connection.execute(select(DECISIONS).where(DECISIONS.c.id == decision_id)).first()
        return None if row is None else decision_record(connection, row)


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
