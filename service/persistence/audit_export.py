"""The SQL of audit exports: one decision's committed fields, and decisions by time range.

A range is read through one streaming query (`yield_per`), a batch at a time,
with the personal values of each batch in one more query: an export of a year
holds one batch in memory, never the whole range.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Connection, Engine, Table, select

from service.persistence.audit_log import DECISION_FIELDS
from service.persistence.audit_rows import PersonalValueRow
from service.persistence.chain import committed
from service.persistence.db import translate_errors
from service.persistence.personal import stored_value
from service.persistence.records import DecisionRecord, PersonalValue
from service.persistence.tables import DecisionRow

DECISIONS = cast(Table, DecisionRow.__table__)
VALUES = cast(Table, PersonalValueRow.__table__)
EXPORT_BATCH = 500
_RECORD_FIELDS = tuple(
    f.name for f in dataclasses.fields(DecisionRecord) if f.name != "personal_values"
)


@dataclass(frozen=True)
class StoredPersonal:
    """One personal value with its salt, or the record of its erasure (value and salt None)."""

    value: Any
    salt: str | None
    erased_at: datetime | None
    erased_by: str | None


@dataclass(frozen=True)
class CommittedDecision:
    """A decision's row exactly as its log entry commits to it, and its personal values."""

    fields: dict[str, Any]
    personal: dict[str, StoredPersonal]


@translate_errors
def committed_decision(engine: Engine, order_id: str) -> CommittedDecision | None:
    """Return the committed fields of an order's decision with its salted values, or None."""
    with engine.connect() as connection:
        row = connection.execute(select(DECISIONS).where(DECISIONS.c.order_id == order_id)).first()
        if row is None:
            return None
        values = connection.execute(
            select(
                VALUES.c.path,
                VALUES.c.value,
                VALUES.c.salt,
                VALUES.c.erased_at,
                VALUES.c.erased_by,
            ).where(VALUES.c.decision_id == row.id)
        )
        personal = {
            v.path: StoredPersonal(stored_value(v.value), v.salt, v.erased_at, v.erased_by)
            for v in values
        }
    fields = committed({name: getattr(row, name) for name in DECISION_FIELDS})
    return CommittedDecision(fields, personal)


def decisions_between(
    engine: Engine, start: datetime, end: datetime, batch: int = EXPORT_BATCH
) -> Iterator[list[DecisionRecord]]:
    """Yield the decisions made in `[start, end)`, oldest first, `batch` records at a time.

    Each record carries its personal values (erased ones as their erasure),
    read for the whole batch in one query. The generator holds one connection
    until it is exhausted or closed.
    """
    query = (
        select(DECISIONS)
        .where(DECISIONS.c.decided_at >= start, DECISIONS.c.decided_at < end)
        .order_by(DECISIONS.c.decided_at, DECISIONS.c.id)
    )
    with engine.connect() as connection:
        rows = connection.execution_options(yield_per=batch).execute(query)
        for part in rows.partitions():
            values = _values_of(connection, [row.id for row in part])
            yield [
                DecisionRecord(
                    **{name: getattr(row, name) for name in _RECORD_FIELDS},
                    personal_values=values.get(row.id, {}),
                )
                for row in part
            ]


def _values_of(
    connection: Connection, decision_ids: Sequence[str]
) -> dict[str, dict[str, PersonalValue]]:
    """Return the personal values of several decisions, by decision id and path."""
    found: dict[str, dict[str, PersonalValue]] = {}
    rows = connection.execute(
        select(
            VALUES.c.decision_id,
            VALUES.c.path,
            VALUES.c.value,
            VALUES.c.erased_at,
            VALUES.c.erased_by,
        ).where(VALUES.c.decision_id.in_(decision_ids))
    )
    for row in rows:
        found.setdefault(row.decision_id, {})[row.path] = PersonalValue(
            stored_value(row.value), row.erased_at, row.erased_by
        )
    return found
