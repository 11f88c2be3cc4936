"""The stock-freeze lifecycle: every transition of a hold is checked here, and written once.

A high-risk order's stock is `frozen` when it is decided; a reviewer's approval
`released` it, a rejection `cancelled` it, and a case whose SLA ran out
`expired` it, with the outcome operations chose for expiry (release or cancel).
Each transition is one conditional UPDATE on the hold, so two callers racing
cannot both move it; the loser gets `InvalidTransition`.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Literal

from sqlalchemy import Connection, Engine, insert, select, update

from service.persistence.audit_log import append_entry
from service.persistence.db import translate_errors
from service.persistence.errors import InvalidTransition, NotFound
from service.persistence.outbox import append_event
from service.persistence.records import StockState, StockTransition, from_row
from service.persistence.tables import StockHoldRow, StockTransitionRow

ExpiryOutcome = Literal["release", "cancel"]
# (from, to) → the event the order system hears. Nothing else is a transition.
TRANSITIONS: dict[tuple[StockState | None, StockState], str] = {
    (None, "frozen"): "stock.frozen",
    ("frozen", "released"): "stock.released",
    ("frozen", "cancelled"): "stock.cancelled",
    ("frozen", "expired"): "stock.expired",
}


def freeze(
    connection: Connection, order_id: str, decision_id: str, actor: str, reason: str | None
) -> None:
    """Create the order's hold as `frozen`, inside the caller's transaction."""
    now = datetime.now(UTC)
    connection.execute(
        insert(StockHoldRow),
        {
            "order_id": order_id,
            "decision_id": decision_id,
            "state": "frozen",
            "outcome": None,
            "updated_at": now,
        },
    )
    _record(connection, order_id, None, "frozen", None, actor, reason, now)


def move(
    connection: Connection,
    order_id: str,
    to_state: StockState,
    actor: str,
    reason: str | None,
    outcome: ExpiryOutcome | None = None,
) -> StockTransition:
    """Move the order's hold to `to_state`, inside the caller's transaction."""
    current: StockState | None = connection.execute(
        select(StockHoldRow.state).where(StockHoldRow.order_id == order_id)
    ).scalar_one_or_none()  # type: ignore[assignment]  # the CHECK constraint holds it to these
    if current is None:
        raise NotFound(f"order {order_id} has no stock hold")
    if (current, to_state) not in TRANSITIONS:
        raise InvalidTransition(f"the stock of order {order_id} is {current}, not {to_state}able")
    if (to_state == "expired") != (outcome is not None):
        raise InvalidTransition("an expiry, and only an expiry, carries an outcome")
    now = datetime.now(UTC)
    moved = connection.execute(
        update(StockHoldRow)
        .where(StockHoldRow.order_id == order_id, StockHoldRow.state == current)
        .values(state=to_state, outcome=outcome, updated_at=now)
    )
    if moved.rowcount != 1:
        raise InvalidTransition(f"the stock of order {order_id} changed meanwhile")
    return _record(connection, order_id, current, to_state, outcome, actor, reason, now)


def _record(
    connection: Connection,
    order_id: str,
    from_state: StockState | None,
    to_state: StockState,
    outcome: str | None,
    actor: str,
    reason: str | None,
    at: datetime,
) -> StockTransition:
    """Write the transition and its event."""
    row = {
        "order_id": order_id,
        "from_state": from_state,
        "to_state": to_state,
        "outcome": outcome,
        "at": at,
        "actor": actor,
        "reason": reason,
    }
    new_id = connection.execute(insert(StockTransitionRow).returning(StockTransitionRow.id), row)
    body = {"from": from_state, "to": to_state, "outcome": outcome, "reason": reason}
    append_entry(connection, f"stock.{to_state}", order_id, actor, body, at)
    event = {"order_id": order_id, "state": to_state, "from": from_state, "outcome": outcome}
    append_event(
        connection,
        TRANSITIONS[(from_state, to_state)],
        order_id,
        {
            **event,
            "at": at.isoformat(),
            "reason": reason,
        },
    )
    return StockTransition(id=new_id.scalar_one(), **row)  # type: ignore[arg-type]


@translate_errors
def stock_of(engine: Engine, order_id: str) -> tuple[StockState, list[StockTransition]] | None:
    """Return an order's stock state and its transitions, oldest first; None without a hold."""
    with engine.connect() as connection:
        state: StockState | None = connection.execute(
            select(StockHoldRow.state).where(StockHoldRow.order_id == order_id)
        ).scalar_one_or_none()  # type: ignore[assignment]  # the CHECK constraint holds it to these
        if state is None:
            return None
        rows = connection.execute(
            select(StockTransitionRow)
            .where(StockTransitionRow.order_id == order_id)
            .order_by(StockTransitionRow.id)
        )
        return state, [from_row(StockTransition, row) for row in rows]
