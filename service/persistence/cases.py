"""The review queue's SQL: priority, claims, decisions on cases, expiry and case history.

A claim is a lease: `claimed_by` with `claim_expires_at`. Every change of a
case is one conditional UPDATE, so two reviewers racing cannot both claim or
both decide a case; the loser gets `CaseClaimed` or `CaseClosed`. Priority puts
cases whose SLA runs out soon first, then the largest expected loss.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from sqlalchemy import Connection, Engine, case, func, insert, or_, select, update
from sqlalchemy.sql import ColumnElement

from service.persistence.audit_log import append_entry, label_body
from service.persistence.db import translate_errors, writing
from service.persistence.errors import CaseClaimed, CaseClosed, NotFound
from service.persistence.records import CaseAction, ReviewCase, from_row
from service.persistence.tables import CaseActionRow, LabelRow, ReviewCaseRow

# A case this close to its SLA goes before any case with more time left.
URGENT = timedelta(minutes=30)
Level = Literal["reviewer", "senior_reviewer"]


@dataclass(frozen=True)
class Actor:
    """Who acts on a case: a person's id, name and role, or the system."""

    id: str
    name: str
    role: str


SYSTEM = Actor("system", "system", "system")


@dataclass(frozen=True)
class QueueFilter:
    """What the queue is narrowed to; None means any."""

    tier: str | None = None
    top_reason: str | None = None
    family: str | None = None
    min_amount: float | None = None
    max_amount: float | None = None
    older_than: timedelta | None = None
    assignee: str | None = None
    levels: tuple[str, ...] | None = None


def levels_for(role: str) -> tuple[Level, ...]:
    """Return the case levels a role may work: escalated cases need a senior reviewer."""
    return ("reviewer", "senior_reviewer") if role == "senior_reviewer" else ("reviewer",)


def _priority(
    now: datetime,
) -> tuple[ColumnElement[int], ColumnElement[float], ColumnElement[datetime]]:
    urgent = case((ReviewCaseRow.sla_due_at <= now + URGENT, 0), else_=1)
    return urgent, ReviewCaseRow.expected_loss.desc(), ReviewCaseRow.sla_due_at.asc()


def _free(now: datetime) -> ColumnElement[bool]:
    return or_(ReviewCaseRow.claimed_by.is_(None), ReviewCaseRow.claim_expires_at <= now)


def _filtered(wanted: QueueFilter, now: datetime) -> list[ColumnElement[bool]]:
    where: list[ColumnElement[bool]] = [ReviewCaseRow.status == "open"]
    if wanted.tier:
        where.append(ReviewCaseRow.tier == wanted.tier)
    if wanted.top_reason:
        where.append(ReviewCaseRow.top_reason == wanted.top_reason)
    if wanted.family:
        where.append(ReviewCaseRow.top_family == wanted.family)
    if wanted.min_amount is not None:
        where.append(ReviewCaseRow.amount >= wanted.min_amount)
    if wanted.max_amount is not None:
        where.append(ReviewCaseRow.amount <= wanted.max_amount)
    if wanted.older_than is not None:
        where.append(ReviewCaseRow.opened_at <= now - wanted.older_than)
    if wanted.levels is not None:
        where.append(ReviewCaseRow.level.in_(wanted.levels))
    if wanted.assignee == "":
        where.append(_free(now))
    elif wanted.assignee:
        where += [ReviewCaseRow.claimed_by == wanted.assignee, ReviewCaseRow.claim_expires_at > now]
    return where


@translate_errors
def queue(
    engine: Engine, wanted: QueueFilter, now: datetime | None = None, limit: int = 200
) -> list[ReviewCase]:
    """Return the open cases that match, highest priority first."""
    now = now or datetime.now(UTC)
    statement = (
        select(ReviewCaseRow)
        .where(*_filtered(wanted, now))
        .order_by(*_priority(now), ReviewCaseRow.id)
        .limit(limit)
    )
    with engine.connect() as connection:
        return [from_row(ReviewCase, row) for row in connection.execute(statement)]


@translate_errors
def queue_counts(engine: Engine) -> dict[str, dict[str, int]]:
    """Return the open cases counted per tier and per top reason."""
    counts: dict[str, dict[str, int]] = {"tier": {}, "top_reason": {}}
    with engine.connect() as connection:
        for column in ("tier", "top_reason"):
            field = getattr(ReviewCaseRow, column)
            rows = connection.execute(
                select(field, func.count())
                .where(ReviewCaseRow.status == "open")
                .group_by(field)
                .order_by(func.count().desc())
            )
            counts[column] = {str(value or "-"): int(n) for value, n in rows}
    return counts


@translate_errors
def get_case(engine: Engine, case_id: str) -> ReviewCase:
    """Return one case, or raise `NotFound`."""
    with engine.connect() as connection:
        return load_case(connection, case_id)


def load_case(connection: Connection, case_id: str, lock: bool = False) -> ReviewCase:
    """Return one case inside the caller's transaction (row-locked with `lock`), or `NotFound`."""
    statement = select(ReviewCaseRow).where(ReviewCaseRow.id == case_id)
    # FOR UPDATE on PostgreSQL: what the checks read stays true until the change commits
    # (SQLite's single writer already excludes every other change).
    row = connection.execute(statement.with_for_update() if lock else statement).first()
    if row is None:
        raise NotFound(f"no review case {case_id}")
    return from_row(ReviewCase, row)


@translate_errors
def claim_next(
    engine: Engine, actor: Actor, claim_for: timedelta, now: datetime | None = None
) -> ReviewCase | None:
    """Claim the highest-priority free case the actor may work; None when there is none."""
    now = now or datetime.now(UTC)
    with writing(engine) as connection:
        # SKIP LOCKED: two reviewers asking at once take two different cases (PostgreSQL);
        # SQLite's single writer serialises the whole transaction instead.
        chosen = connection.execute(
            select(ReviewCaseRow.id)
            .where(
                ReviewCaseRow.status == "open",
                ReviewCaseRow.level.in_(levels_for(actor.role)),
                _free(now),
            )
            .order_by(*_priority(now), ReviewCaseRow.id)
            .limit(1)
            .with_for_update(skip_locked=True)
        ).scalar_one_or_none()
        if chosen is None:
            return None
        return _claim(connection, chosen, actor, claim_for, now)


@translate_errors
def claim(
    engine: Engine, case_id: str, actor: Actor, claim_for: timedelta, now: datetime | None = None
) -> ReviewCase:
    """Claim (or extend the actor's claim on) one case; refuse one another reviewer holds."""
    now = now or datetime.now(UTC)
    with writing(engine) as connection:
        return _claim(connection, case_id, actor, claim_for, now)


def _claim(
    connection: Connection, case_id: str, actor: Actor, claim_for: timedelta, now: datetime
) -> ReviewCase:
    current = load_case(connection, case_id, lock=True)
    if current.status != "open":
        raise CaseClosed(f"review case {case_id} is already {current.status}")
    if current.level not in levels_for(actor.role):
        raise CaseClaimed(f"review case {case_id} was escalated to a senior reviewer")
    taken = connection.execute(
        update(ReviewCaseRow)
        .where(
            ReviewCaseRow.id == case_id,
            *_actionable(actor, now),
        )
        .values(claimed_by=actor.id, claim_expires_at=now + claim_for)
    )
    if taken.rowcount != 1:
        raise CaseClaimed(f"review case {case_id} is claimed by another reviewer")
    if current.claimed_by != actor.id or (current.claim_expires_at or now) <= now:
        _history(connection, current, "claim", actor, now)
    return load_case(connection, case_id)


def _actionable(actor: Actor, now: datetime) -> list[ColumnElement[bool]]:
    """Return the conditions under which the actor may change a case: every update repeats them."""
    return [
        ReviewCaseRow.status == "open",
        ReviewCaseRow.level.in_(levels_for(actor.role)),
        or_(_free(now), ReviewCaseRow.claimed_by == actor.id),
    ]


def _changed(result: Any, case_id: str) -> None:
    """Refuse a change whose conditions no longer held when it ran."""
    if result.rowcount != 1:
        raise CaseClaimed(f"review case {case_id} changed meanwhile: claimed, escalated or closed")


def held_by(connection: Connection, case_id: str, actor: Actor, now: datetime) -> ReviewCase:
    """Return the case, row-locked, if the actor may act on it now (their claim, or free)."""
    current = load_case(connection, case_id, lock=True)
    if current.status != "open":
        raise CaseClosed(f"review case {case_id} is already {current.status}")
    if current.level not in levels_for(actor.role):
        raise CaseClaimed(f"review case {case_id} was escalated to a senior reviewer")
    free = current.claimed_by is None or (current.claim_expires_at or now) <= now
    if not free and current.claimed_by != actor.id:
        raise CaseClaimed(f"review case {case_id} is claimed by another reviewer")
    return current


@translate_errors
def release_claim(engine: Engine, case_id: str, actor: Actor, now: datetime | None = None) -> None:
    """Give a claimed case back to the queue (only its holder can)."""
    now = now or datetime.now(UTC)
    with writing(engine) as connection:
        current = held_by(connection, case_id, actor, now)
        released = connection.execute(
            update(ReviewCaseRow)
            .where(ReviewCaseRow.id == case_id, *_actionable(actor, now))
            .values(claimed_by=None, claim_expires_at=None)
        )
        _changed(released, case_id)
        _history(connection, current, "release", actor, now)


def close(
    connection: Connection,
    current: ReviewCase,
    status: Literal["approved", "rejected", "expired"],
    actor: Actor,
    now: datetime,
    reason_code: str | None,
    note: str | None,
    scenario: str | None,
) -> None:
    """Close a case the actor may act on, inside the caller's transaction; else refuse."""
    conditions = [ReviewCaseRow.status == "open"] if actor is SYSTEM else _actionable(actor, now)
    closed = connection.execute(
        update(ReviewCaseRow)
        .where(ReviewCaseRow.id == current.id, *conditions)
        .values(
            status=status,
            closed_at=now,
            reviewer=actor.name,
            note=note,
            reason_code=reason_code,
            scenario=scenario,
            claimed_by=None,
            claim_expires_at=None,
        )
    )
    _changed(closed, current.id)
    action = {"approved": "approve", "rejected": "reject", "expired": "expire"}[status]
    _history(connection, current, action, actor, now, reason_code, note, scenario)


def escalate(
    connection: Connection,
    current: ReviewCase,
    actor: Actor,
    now: datetime,
    reason_code: str | None,
    note: str | None,
) -> None:
    """Send an open case to the senior reviewers and free it, inside the caller's transaction."""
    escalated = connection.execute(
        update(ReviewCaseRow)
        .where(ReviewCaseRow.id == current.id, *_actionable(actor, now))
        .values(level="senior_reviewer", claimed_by=None, claim_expires_at=None)
    )
    _changed(escalated, current.id)
    _history(connection, current, "escalate", actor, now, reason_code, note)


def add_label(
    connection: Connection, order_id: str, label: str, reason: str | None, now: datetime
) -> int:
    """Record a reviewer's outcome as the order's label, inside the caller's transaction."""
    row = {
        "order_id": order_id,
        "label": label,
        "reason": reason,
        "known_at": now,
        "received_at": now,
        "source": "review",
    }
    label_id = connection.execute(insert(LabelRow).returning(LabelRow.id), row).scalar_one()
    append_entry(connection, f"label.{label}", order_id, "review", label_body(row), now)
    return int(label_id)


def _history(
    connection: Connection,
    current: ReviewCase,
    action: str,
    actor: Actor,
    at: datetime,
    reason_code: str | None = None,
    note: str | None = None,
    scenario: str | None = None,
) -> None:
    connection.execute(
        insert(CaseActionRow),
        {
            "case_id": current.id,
            "order_id": current.order_id,
            "action": action,
            "actor": actor.name,
            "actor_role": actor.role,
            "reason_code": reason_code,
            "note": note,
            "scenario": scenario,
            "at": at,
        },
    )
    body = {
        "case_id": current.id,
        "action": action,
        "actor_role": actor.role,
        "reason_code": reason_code,
        "note": note,
        "scenario": scenario,
    }
    append_entry(connection, f"review.{action}", current.order_id, actor.name, body, at)


@translate_errors
def case_history(engine: Engine, case_id: str) -> list[CaseAction]:
    """Return every action on a case, oldest first."""
    with engine.connect() as connection:
        rows = connection.execute(
            select(CaseActionRow).where(CaseActionRow.case_id == case_id).order_by(CaseActionRow.id)
        )
        return [from_row(CaseAction, row) for row in rows]


@translate_errors
def due_for_expiry(engine: Engine, now: datetime, limit: int = 100) -> list[str]:
    """Return the ids of open cases whose SLA has run out, oldest deadline first."""
    with engine.connect() as connection:
        return list(
            connection.execute(
                select(ReviewCaseRow.id)
                .where(ReviewCaseRow.status == "open", ReviewCaseRow.sla_due_at <= now)
                .order_by(ReviewCaseRow.sla_due_at)
                .limit(limit)
            ).scalars()
        )
