"""Later events of a decided order: labels and payment outcomes, each stored once per identity.

An event's identity (`event_key`) is unique per order in the database. The
same identity again with the same request hash answers the stored row and
writes nothing; with another hash it is a `ConflictingRequest`. An event
without an identity is stored every time.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any, TypeVar

from sqlalchemy import Connection, Engine, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from features.spec import Stream
from service.persistence.audit_log import append_entry, label_body, payment_body
from service.persistence.chain import utc
from service.persistence.db import translate_errors, writing
from service.persistence.errors import ConflictingRequest, InvalidRecord
from service.persistence.feature_updates import OwedUpdate, owe_feature_updates
from service.persistence.label_walk import LabelStep, lock_labels, owe_label_step
from service.persistence.records import (
    Label,
    LabelSource,
    LabelValue,
    PaymentOutcome,
    PaymentStatus,
    from_row,
)
from service.persistence.tables import LabelRow, PaymentOutcomeRow

T = TypeVar("T")


def _one_of(value: str, allowed: Iterable[str], name: str) -> None:
    if value not in allowed:
        raise InvalidRecord(f"{name} must be one of {sorted(allowed)}, got {value!r}")


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
    return save_label_event(engine, order_id, label, reason, known_at, source)[0]


@translate_errors
def save_label_event(
    engine: Engine,
    order_id: str,
    label: LabelValue,
    reason: str | None,
    known_at: datetime,
    source: LabelSource,
    *,
    event_key: str | None = None,
    request_sha256: str | None = None,
) -> tuple[int, bool, tuple[LabelStep, ...]]:
    """Store a label once per `event_key`; return its id, whether it is new, and its steps.

    The steps (`service.persistence.label_walk`) are what the label does to the
    order's counts; their feature updates are owed in the label's transaction.
    """
    _one_of(label, ("fraud", "legit"), "label")
    _one_of(source, ("api", "file", "review"), "source")
    known, received = utc(known_at, "known_at"), datetime.now(UTC)
    row = {
        "order_id": order_id,
        "label": label,
        "reason": reason,
        "known_at": known,
        "received_at": received,
        "source": source,
        "event_key": event_key,
        "request_sha256": request_sha256,
    }
    entry = (f"label.{label}", f"labels:{source}", label_body(row))

    def step(connection: Connection, stored_id: int) -> tuple[LabelStep, ...]:
        return owe_label_step(connection, order_id, label, known, stored_id)

    label_id, created, steps = _store_once(
        engine, LabelRow, "label", row, entry, step, lambda c: lock_labels(c, order_id)
    )
    return label_id, created, steps or ()


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
    return save_payment_event(engine, order_id, status, known_at)[0]


@translate_errors
def save_payment_event(
    engine: Engine,
    order_id: str,
    status: PaymentStatus,
    known_at: datetime,
    *,
    event_key: str | None = None,
    request_sha256: str | None = None,
    decline_time_ms: int | None = None,
) -> tuple[int, bool, None]:
    """Store a payment outcome once per `event_key`; return its id and whether it is new.

    A decline owes its feature update, counted from `decline_time_ms`, in the same
    transaction; it is keyed by the stored outcome (two can share a moment).
    """
    _one_of(status, ("declined", "authorized"), "status")
    known, received = utc(known_at, "known_at"), datetime.now(UTC)
    row = {
        "order_id": order_id,
        "status": status,
        "known_at": known,
        "received_at": received,
        "event_key": event_key,
        "request_sha256": request_sha256,
    }
    entry = (f"payment.{status}", "payments", payment_body(row))

    def owe(connection: Connection, stored_id: int) -> None:
        if status == "declined" and decline_time_ms is not None:
            stream = Stream.DECLINES.value
            owed = OwedUpdate(order_id, stream, decline_time_ms, str(stored_id))
            owe_feature_updates(connection, [owed])

    return _store_once(engine, PaymentOutcomeRow, "payment", row, entry, owe)


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


def _store_once(
    engine: Engine,
    table: type[LabelRow] | type[PaymentOutcomeRow],
    kind: str,
    row: dict[str, Any],
    entry: tuple[str, str, dict[str, Any]],
    then: Callable[[Connection, int], T],
    before: Callable[[Connection], None] | None = None,
) -> tuple[int, bool, T | None]:
    """Insert an event, its audit entry (action, actor, body) and what `then` adds, in one
    transaction (`before` runs first); return its id, whether it is new, and `then`'s answer
    (a repeat: None)."""
    action, actor, body = entry
    try:
        with writing(engine) as connection:
            if before is not None:
                before(connection)
            stored_id = connection.execute(insert(table).returning(table.id), row).scalar_one()
            append_entry(connection, action, row["order_id"], actor, body, row["received_at"])
            return int(stored_id), True, then(connection, int(stored_id))
    except IntegrityError as error:
        return _stored(engine, table, kind, row, error), False, None


def _stored(
    engine: Engine,
    model: type[LabelRow] | type[PaymentOutcomeRow],
    kind: str,
    row: dict[str, Any],
    error: IntegrityError,
) -> int:
    """Return the id of the event stored under the row's identity, or refuse another body.

    Called when the insert broke a constraint: with no identity, or none stored
    under it, the failure was something else, and `error` is raised again.
    """
    key = row["event_key"]
    if key is None:
        raise error
    with engine.connect() as connection:
        stored = connection.execute(
            select(model.id, model.request_sha256).where(
                model.order_id == row["order_id"], model.event_key == key
            )
        ).first()
    if stored is None:
        raise error
    wanted = row["request_sha256"]
    if stored.request_sha256 is not None and wanted is not None and stored.request_sha256 != wanted:
        raise ConflictingRequest(
            f"{kind} event {key!r} of order {row['order_id']!r} is stored ({kind} {stored.id}) "
            "with another body: a different event needs its own event id",
            kind,
            int(stored.id),
        )
    return int(stored.id)
