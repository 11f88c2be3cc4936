"""Personal values of decided orders: kept apart from the committed bytes, erasable.

A decision's stored order carries no personal value; each one sits in
`personal_values` with a random salt, and the decision commits to it by the
salted hash (`chain.commitment`). Erasure deletes value and salt and records
who erased it and when; the decision's bytes, and so the audit log, do not change.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, cast

import orjson
from sqlalchemy import Connection, Engine, Table, func, select, update

from service.persistence.audit_log import append_entry
from service.persistence.audit_rows import PersonalValueRow
from service.persistence.chain import canonical_json, commitment
from service.persistence.db import translate_errors, writing
from service.persistence.records import PersonalValue
from service.persistence.tables import DecisionRow

VALUES = cast(Table, PersonalValueRow.__table__)
DECISIONS = cast(Table, DecisionRow.__table__)
SALT_BYTES = 16


@dataclass(frozen=True)
class Erasure:
    """What an erasure request removed."""

    customer_id: str
    orders: int
    values: int
    at: datetime


def take(payload: dict[str, Any], paths: Iterable[str]) -> dict[str, Any]:
    """Remove the personal values from a payload the caller owns; return them by path.

    Absent and null values are not personal data: nothing is kept for them.
    """
    kept = payload
    taken: dict[str, Any] = {}
    for path in paths:
        *parents, leaf = path.split(".")
        node: Any = kept
        for part in parents:
            node = node.get(part) if isinstance(node, dict) else None
        if isinstance(node, dict) and node.get(leaf) is not None:
            taken[path] = node.pop(leaf)
    return taken


def seal(values: Mapping[str, Any]) -> tuple[dict[str, str], dict[str, tuple[Any, str]]]:
    """Return the commitments by path, and each value with its fresh salt.

    The values are JSON as it reads back (the decision's payload is normalized first).
    """
    salted = {path: (value, secrets.token_hex(SALT_BYTES)) for path, value in values.items()}
    return {path: commitment(salt, v) for path, (v, salt) in salted.items()}, salted


def value_rows(
    decision_id: str, customer_id: str | None, salted: Mapping[str, tuple[Any, str]]
) -> list[dict[str, Any]]:
    """Return the rows of a decision's personal values with their salts."""
    return [
        {
            "decision_id": decision_id,
            "customer_id": customer_id,
            "path": path,
            "value": canonical_json(value),
            "salt": salt,
            "erased_at": None,
            "erased_by": None,
        }
        for path, (value, salt) in salted.items()
    ]


def values_of(connection: Connection, decision_id: str) -> dict[str, PersonalValue]:
    """Return a decision's personal values by path, erased ones as their erasure."""
    rows = connection.execute(
        select(VALUES.c.path, VALUES.c.value, VALUES.c.erased_at, VALUES.c.erased_by).where(
            VALUES.c.decision_id == decision_id
        )
    )
    return {r.path: PersonalValue(stored_value(r.value), r.erased_at, r.erased_by) for r in rows}


def stored_value(text: str | None) -> Any:
    """Return a personal value from its stored JSON text (None once erased)."""
    return None if text is None else orjson.loads(text)


@translate_errors
def salted_values(engine: Engine, decision_id: str) -> dict[str, tuple[Any, str | None]]:
    """Return each personal value with its salt (None once erased), for a disclosed export."""
    with engine.connect() as connection:
        rows = connection.execute(
            select(VALUES.c.path, VALUES.c.value, VALUES.c.salt).where(
                VALUES.c.decision_id == decision_id
            )
        )
        return {r.path: (stored_value(r.value), r.salt) for r in rows}


@translate_errors
def erase_customer(engine: Engine, customer_id: str, actor: str) -> Erasure:
    """Erase a customer's personal values everywhere they are kept, and log the erasure.

    The decisions keep their commitments, so the audit log still verifies.
    (Queued feature updates name the order only, and hold no personal value.)
    """
    now = datetime.now(UTC)
    with writing(engine) as connection:
        orders = connection.execute(
            select(func.count())
            .select_from(DECISIONS)
            .where(DECISIONS.c.customer_id == customer_id)
        ).scalar_one()
        erased = connection.execute(
            update(VALUES)
            .where(VALUES.c.customer_id == customer_id, VALUES.c.erased_at.is_(None))
            .values(value=None, salt=None, erased_at=now, erased_by=actor)
        ).rowcount
        append_entry(
            connection,
            "privacy.erased",
            customer_id,
            actor,
            {"customer_id": customer_id, "orders": orders, "values": erased},
            now,
        )
    return Erasure(customer_id, orders, erased, now)
