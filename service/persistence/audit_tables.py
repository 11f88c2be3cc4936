"""The tables the evidence is read from, held against the audit log that recorded them.

Labels, payment outcomes, review actions and stock transitions are each
written with their log entry in one transaction, and personal values are
committed to by their decision. A row changed, added or deleted afterwards
no longer matches: `problem` names the first such row.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Hashable, Iterable
from typing import Any

import orjson
from sqlalchemy import Connection, Table, select

from service.persistence.audit_rows import AuditEntryRow, AuditPendingRow, PersonalValueRow
from service.persistence.chain import commitment, timestamp
from service.persistence.tables import (
    CaseActionRow,
    DecisionRow,
    LabelRow,
    PaymentOutcomeRow,
    StockTransitionRow,
)

Key = tuple[Hashable, ...]
LOG: Table = AuditEntryRow.__table__  # type: ignore[assignment]
PENDING: Table = AuditPendingRow.__table__  # type: ignore[assignment]


def _entries(connection: Connection, prefix: str) -> Iterable[tuple[str, str, str, dict[str, Any]]]:
    """Yield (kind, subject, actor, body) of every logged or pending entry of a kind family."""
    for table, parse in ((LOG, orjson.loads), (PENDING, dict)):
        rows = connection.execute(
            select(table.c.kind, table.c.subject, table.c.actor, table.c.body).where(
                table.c.kind.startswith(prefix)
            )
        )
        for row in rows:
            yield row.kind, row.subject, row.actor, parse(row.body)


def _label(row: Any) -> Key:
    return (
        row.order_id,
        row.label,
        row.reason,
        row.source,
        timestamp(row.known_at),
        row.event_key,
    )


def _label_entry(kind: str, subject: str, actor: str, body: dict[str, Any]) -> Key:
    return (
        subject,
        body.get("label"),
        body.get("reason"),
        body.get("source"),
        body.get("known_at"),
        body.get("event"),
    )


def _payment(row: Any) -> Key:
    return (row.order_id, row.status, timestamp(row.known_at), row.event_key)


def _payment_entry(kind: str, subject: str, actor: str, body: dict[str, Any]) -> Key:
    return (subject, body.get("status"), body.get("known_at"), body.get("event"))


def _action(row: Any) -> Key:
    return (row.order_id, row.action, row.actor, row.actor_role, row.reason_code, row.note)


def _action_entry(kind: str, subject: str, actor: str, body: dict[str, Any]) -> Key:
    return (
        subject,
        body.get("action"),
        actor,
        body.get("actor_role"),
        body.get("reason_code"),
        body.get("note"),
    )


def _transition(row: Any) -> Key:
    return (row.order_id, row.from_state, row.to_state, row.outcome, row.actor, row.reason)


def _transition_entry(kind: str, subject: str, actor: str, body: dict[str, Any]) -> Key:
    return (
        subject,
        body.get("from"),
        body.get("to"),
        body.get("outcome"),
        actor,
        body.get("reason"),
    )


CHECKS: tuple[tuple[str, type[Any], Callable[[Any], Key], str, Callable[..., Key]], ...] = (
    ("label", LabelRow, _label, "label.", _label_entry),
    ("payment outcome", PaymentOutcomeRow, _payment, "payment.", _payment_entry),
    ("review action", CaseActionRow, _action, "review.", _action_entry),
    ("stock transition", StockTransitionRow, _transition, "stock.", _transition_entry),
)


def problem(connection: Connection) -> str | None:
    """Return the first row that its log entries do not vouch for, or None."""
    for what, model, of_row, prefix, of_entry in CHECKS:
        rows = Counter(of_row(r) for r in connection.execute(select(model.__table__)))
        logged = Counter(of_entry(*entry) for entry in _entries(connection, prefix))
        if extra := rows - logged:
            return (
                f"a {what} of order {next(iter(extra))[0]!r} is not in the log: {next(iter(extra))}"
            )
        if missing := logged - rows:
            return f"a logged {what} of order {next(iter(missing))[0]!r} is gone or changed"
    return _personal_problem(connection)


def _personal_problem(connection: Connection) -> str | None:
    """Return a personal value that does not match its decision's commitment, or None."""
    values = PersonalValueRow.__table__
    decisions = DecisionRow.__table__
    erased_customers = {subject for _, subject, _, _ in _entries(connection, "privacy.erased")}
    kept: dict[str, set[str]] = {}
    rows = connection.execute(
        select(
            values.c.path,
            values.c.value,
            values.c.salt,
            values.c.erased_at,
            values.c.customer_id,
            decisions.c.order_id,
            decisions.c.personal,
        ).join(decisions, decisions.c.id == values.c.decision_id)
    )
    for row in rows:
        kept.setdefault(row.order_id, set()).add(row.path)
        committed = (row.personal or {}).get(row.path)
        if row.erased_at is not None or row.salt is None:
            if row.customer_id not in erased_customers:
                return f"the {row.path} of order {row.order_id!r} is erased with no erasure logged"
            continue
        try:
            matches = committed == commitment(row.salt, orjson.loads(row.value))
        except ValueError:  # a salt of the wrong form, or a value that is not JSON
            matches = False
        if not matches:
            return f"the {row.path} of order {row.order_id!r} is not the value committed to"
    for order_id, personal in connection.execute(
        select(decisions.c.order_id, decisions.c.personal)
    ):
        if missing := set(personal or {}) - kept.get(order_id, set()):
            return f"the {sorted(missing)[0]} of order {order_id!r} was deleted, not erased"
    return None
