"""The feature-update outbox: online-store updates owed, written with what caused them.

A decision (and a reviewer's fraud outcome) stores the update it owes the
online store in its own transaction, so a crash after the commit loses
nothing. The scoring path then applies it at once; the drainer
(`ScoringService.replay_outbox`) later claims the rows, finds those already
applied (by event id, in the store) and applies the rest. Claims keep two
drainers, in any number of processes, off the same rows; a claim whose
drainer died expires.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from sqlalchemy import Connection, Engine, Table, delete, select, update
from sqlalchemy.orm import Session

from service.persistence.db import translate_errors, writing
from service.persistence.driver_insert import DriverInsert
from service.persistence.tables import FeatureUpdateRow

# Done rows are kept this long (to look into), then purged by the drainer.
KEEP_DONE = timedelta(days=1)


@dataclass(frozen=True)
class OwedUpdate:
    """One event of an order whose update the online store is owed."""

    order_id: str
    stream: str
    time_ms: int
    key: str | None = None
    withdraws_ms: int | None = None
    """The time of the order's event this one withdraws (a withdrawn fraud label)."""


# The row every owed update adds, through the driver (see `driver_insert`).
INSERT_OWED = DriverInsert(
    cast(Table, FeatureUpdateRow.__table__),
    ("created_at", "payload", "attempts", "last_error", "done_at"),
)


def owe_feature_updates(connection: Connection, owed: Sequence[OwedUpdate]) -> None:
    """Store, in the caller's transaction, the updates these events owe the online store.

    A row names its order, not the order's values: no personal data waits here.
    """
    now = datetime.now(UTC)
    rows = []
    for event in owed:
        payload: dict[str, object] = {
            "order_id": event.order_id,
            "stream": event.stream,
            "time_ms": int(event.time_ms),
            "key": event.key,
        }
        if event.withdraws_ms is not None:
            payload["withdraws_ms"] = int(event.withdraws_ms)
        rows.append(
            {
                "created_at": now,
                "payload": payload,
                "attempts": 0,
                "last_error": None,
                "done_at": None,
            }
        )
    if rows:
        INSERT_OWED.execute(connection, rows)


@translate_errors
def claim_feature_updates(
    engine: Engine, owner: str, settle: timedelta, lease: timedelta, limit: int = 100
) -> list[tuple[int, dict[str, Any]]]:
    """Claim up to `limit` owed updates older than `settle`, oldest first, for `lease`.

    One conditional UPDATE: of two drainers racing for a row, the second finds
    it claimed (PostgreSQL re-checks the condition after the first commits).
    """
    now = datetime.now(UTC)
    free = (FeatureUpdateRow.claimed_until.is_(None)) | (FeatureUpdateRow.claimed_until < now)
    due = (
        select(FeatureUpdateRow.id)
        .where(FeatureUpdateRow.done_at.is_(None), FeatureUpdateRow.created_at <= now - settle)
        .where(free)
        .order_by(FeatureUpdateRow.id)
        .limit(limit)
    )
    with writing(engine) as connection:
        rows = connection.execute(
            update(FeatureUpdateRow)
            .where(FeatureUpdateRow.id.in_(due.scalar_subquery()), free)
            .values(claimed_by=owner, claimed_until=now + lease)
            .returning(FeatureUpdateRow.id, FeatureUpdateRow.payload)
        ).all()
    return sorted((int(row.id), row.payload) for row in rows)


@translate_errors
def finish_feature_updates(
    engine: Engine,
    owner: str,
    done: Iterable[int],
    failed: Iterable[int] = (),
    error: str | None = None,
) -> None:
    """Record what a drainer did with its claimed rows: applied, or failed with `error`.

    One statement each (never one per row): a long outage leaves many rows owed,
    and this transaction holds the database's writer that decisions wait for.
    """
    now = datetime.now(UTC)
    mine = FeatureUpdateRow.claimed_by == owner
    attempted = FeatureUpdateRow.attempts + 1
    with writing(engine) as connection:
        finished, missed = list(done), list(failed)
        if finished:
            connection.execute(
                update(FeatureUpdateRow)
                .where(FeatureUpdateRow.id.in_(finished), mine)
                .values(done_at=now, attempts=attempted, claimed_until=None)
            )
        if missed:
            connection.execute(
                update(FeatureUpdateRow)
                .where(FeatureUpdateRow.id.in_(missed), mine)
                .values(attempts=attempted, last_error=error, claimed_until=None)
            )
        connection.execute(
            delete(FeatureUpdateRow).where(FeatureUpdateRow.done_at < now - KEEP_DONE)
        )


@translate_errors
def due_feature_updates(engine: Engine, limit: int = 100) -> list[tuple[int, dict[str, Any]]]:
    """Return the owed updates not applied yet, oldest first (claimed or not)."""
    with Session(engine) as session:
        rows = session.execute(
            select(FeatureUpdateRow.id, FeatureUpdateRow.payload)
            .where(FeatureUpdateRow.done_at.is_(None))
            .order_by(FeatureUpdateRow.id)
            .limit(limit)
        )
        return [(row.id, row.payload) for row in rows]
