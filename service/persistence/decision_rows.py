"""A decision's rows: prepared in its caller's thread, written many to one transaction.

`prepare` does all the work of a decision that needs no database: fields as
they will read back, personal values sealed, the audit entry and its content
hash, the outbox event, the entity links. `write` inserts a batch of prepared
decisions in the caller's transaction, through the driver: the decisions in
a few multi-row statements (`ON CONFLICT (order_id) DO NOTHING RETURNING`),
which skip (do not fail on) a decision whose order id is stored already, then
one statement per table for the rows of the new ones, and what each new
decision owes: its feature update, and its review case when asked.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, cast
from uuid import uuid4

from sqlalchemy import Connection, Engine, Table

from features.columns import moment_ms
from features.spec import Stream
from service.persistence.audit_log import DECISION_CREATED, PENDING, pending_row
from service.persistence.audit_rows import PersonalValueRow
from service.persistence.chain import committed, content_hash, normalize
from service.persistence.db import translate_errors, writing
from service.persistence.driver_insert import DriverInsert
from service.persistence.feature_updates import OwedUpdate, owe_feature_updates
from service.persistence.personal import seal, take, value_rows
from service.persistence.records import DecisionRecord, NewDecision, PersonalValue
from service.persistence.review import link_rows, open_review
from service.persistence.tables import DecisionLinkRow, DecisionRow, OutboxEventRow

DECISIONS = cast(Table, DecisionRow.__table__)
SCORING_ACTOR = "service:scoring"
# An order id stored already (a retry, a race) skips its row, and is told by it.
INSERT_DECISIONS = DriverInsert(
    DECISIONS, tuple(c.name for c in DECISIONS.columns), skip_existing="order_id"
)
# The rows every decision adds, through the driver (see `driver_insert`).
INSERT_VALUES = DriverInsert(
    cast(Table, PersonalValueRow.__table__),
    ("decision_id", "customer_id", "path", "value", "salt", "erased_at", "erased_by"),
)
INSERT_ENTRIES = DriverInsert(PENDING, ("kind", "subject", "actor", "at", "body"))
INSERT_LINKS = DriverInsert(
    cast(Table, DecisionLinkRow.__table__), ("order_id", "kind", "key", "created_at")
)
INSERT_EVENTS = DriverInsert(
    cast(Table, OutboxEventRow.__table__), ("kind", "order_id", "payload", "created_at")
)


@dataclass(frozen=True)
class PreparedDecision:
    """One decision's record and the rows that store it."""

    record: DecisionRecord
    row: dict[str, Any]
    values: list[dict[str, Any]]
    entry: dict[str, Any]
    event: dict[str, Any]
    links: list[dict[str, Any]]
    open_case: bool
    sla: timedelta


def prepare(
    new: NewDecision,
    open_case: bool,
    sla: timedelta,
    links: Mapping[str, str | None] | None = None,
    personal: Iterable[str] = (),
) -> PreparedDecision:
    """Return the decision's record and rows; raise `InvalidRecord` if it cannot be stored."""
    # `normalize` hands back its own copy of the payload, which loses its personal values.
    fields: dict[str, Any] = {"id": uuid4().hex, **normalize(new)}
    commitments, salted = seal(take(fields["order_payload"], personal))
    fields["personal"] = commitments
    record = DecisionRecord(
        **fields, personal_values={path: PersonalValue(v) for path, (v, _) in salted.items()}
    )
    body = {
        "decision_id": record.id,
        "order_id": record.order_id,
        "content": content_hash(committed(fields)),
    }
    values = value_rows(record.id, record.customer_id, salted)
    return PreparedDecision(
        record=record,
        row=fields,
        values=values,
        entry=pending_row(
            DECISION_CREATED, record.order_id, SCORING_ACTOR, body, record.decided_at
        ),
        # The record's fields read back as they are: the event needs no JSON round trip.
        event={
            "kind": "decision.created",
            "order_id": record.order_id,
            "payload": decision_event(record),
            "created_at": datetime.now(UTC),
        },
        links=link_rows(record.order_id, record.created_at, links or {}),
        open_case=open_case,
        sla=sla,
    )


def write(connection: Connection, batch: Sequence[PreparedDecision]) -> list[bool]:
    """Insert the batch in the caller's transaction; return whether each decision is new.

    A decision whose order id is stored already writes nothing at all.
    """
    inserted = INSERT_DECISIONS.insert_new(connection, [p.row for p in batch])
    new = [p for p, added in zip(batch, inserted, strict=True) if added]
    if new:
        values = [value for p in new for value in p.values]
        if values:
            INSERT_VALUES.execute(connection, values)
        INSERT_ENTRIES.execute(connection, [p.entry for p in new])
        links = [link for p in new for link in p.links]
        if links:
            INSERT_LINKS.execute(connection, links)
        INSERT_EVENTS.execute(connection, [p.event for p in new])
        owed = [
            OwedUpdate(p.record.order_id, Stream.ORDERS.value, moment_ms(p.record.created_at))
            for p in new
        ]
        owe_feature_updates(connection, owed)
        for p in new:
            if p.open_case:
                open_review(connection, p.record, p.sla)
    return inserted


def compile_inserts(engine: Engine) -> None:
    """Compile every insert a batch of decisions can run (of 1, 2, 4 … rows) for `engine`.

    Apart from `rehearse`: compiling takes a while, and must not eat into the
    deadline the rehearsal's statements run under.
    """
    INSERT_DECISIONS.compile_all(engine.dialect)


class _Rehearsed(Exception):
    """Ends a rehearsal: its transaction rolls back."""


@translate_errors
def rehearse(engine: Engine, prepared: PreparedDecision) -> None:
    """Run a decision's statements in a transaction that is rolled back, storing nothing.

    The first real decision then finds every statement compiled and cached. A
    database that fails or runs out of time raises `DatabaseUnavailable`.
    """
    try:
        with writing(engine) as connection:
            write(connection, [prepared])
            raise _Rehearsed
    except _Rehearsed:
        pass


def decision_fields(record: DecisionRecord) -> dict[str, Any]:
    """Return what every telling of a decision says: the webhook's event, the API's answer."""
    return {
        "order_id": record.order_id,
        "decision_id": record.id,
        "score": record.score,
        "tier": record.tier,
        "action": record.action,
        "reasons": record.reasons,
        "model": {"name": record.model_name, "version": record.model_version},
        "degraded": record.degraded,
    }


def decision_event(record: DecisionRecord) -> dict[str, Any]:
    """Return what a `decision.created` event tells: the decision as the API answers it."""
    return {
        **decision_fields(record),
        "stock": {"freeze": record.freeze, "reason": record.freeze_reason},
        "decided_at": record.decided_at.isoformat(),
    }
