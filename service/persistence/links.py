"""The ring view's SQL: the orders that share an entity with one order, and their fate.

`decision_links` holds one row per entity a decided order used, indexed by
(kind, key, created_at), so finding an entity's orders of the last 30 days is
an index range scan whatever the number of stored decisions.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Engine, Select, select
from sqlalchemy.orm import aliased

from service.persistence.db import translate_errors
from service.persistence.tables import (
    DecisionLinkRow,
    DecisionRow,
    LabelRow,
    ReviewCaseRow,
    StockHoldRow,
)

RING_WINDOW = timedelta(days=30)
RING_LIMIT = 200


@dataclass(frozen=True)
class Link:
    """One entity an order used."""

    kind: str
    key: str


@dataclass(frozen=True)
class LinkedOrder:
    """An order linked to the case's order, with what became of it."""

    order_id: str
    created_at: datetime
    shared: tuple[Link, ...]
    tier: str
    action: str
    score: float
    case_id: str | None
    case_status: str | None
    stock_state: str | None
    label: str | None


@translate_errors
def links_of(engine: Engine, order_id: str) -> list[Link]:
    """Return the entities an order used."""
    with engine.connect() as connection:
        rows = connection.execute(
            select(DecisionLinkRow.kind, DecisionLinkRow.key)
            .where(DecisionLinkRow.order_id == order_id)
            .order_by(DecisionLinkRow.kind)
        )
        return [Link(kind, key) for kind, key in rows]


def linked_pairs(order_id: str, around: datetime) -> Select[str, str, str, datetime]:
    """Return the statement of the (order, kind, key, time) links shared with an order."""
    mine, other = aliased(DecisionLinkRow), aliased(DecisionLinkRow)
    return (
        select(other.order_id, other.kind, other.key, other.created_at)
        .join(mine, (mine.kind == other.kind) & (mine.key == other.key))
        .where(
            mine.order_id == order_id,
            other.order_id != order_id,
            other.created_at >= around - RING_WINDOW,
        )
        .order_by(other.created_at.desc())
        .limit(RING_LIMIT)
    )


@translate_errors
def linked_orders(engine: Engine, order_id: str, around: datetime) -> list[LinkedOrder]:
    """Return the orders since `around` - 30 days that share an entity with `order_id`."""
    with engine.connect() as connection:
        pairs = connection.execute(linked_pairs(order_id, around)).all()
        shared: dict[str, list[Link]] = {}
        created: dict[str, datetime] = {}
        for linked, kind, key, at in pairs:
            shared.setdefault(linked, []).append(Link(kind, key))
            created[linked] = at
        ids = list(shared)
        if not ids:
            return []
        decisions = {
            row.order_id: row
            for row in connection.execute(
                select(
                    DecisionRow.order_id, DecisionRow.tier, DecisionRow.action, DecisionRow.score
                ).where(DecisionRow.order_id.in_(ids))
            )
        }
        cases = {
            row.order_id: (row.id, row.status)
            for row in connection.execute(
                select(ReviewCaseRow.order_id, ReviewCaseRow.id, ReviewCaseRow.status).where(
                    ReviewCaseRow.order_id.in_(ids)
                )
            )
        }
        stock = dict(
            connection.execute(
                select(StockHoldRow.order_id, StockHoldRow.state).where(
                    StockHoldRow.order_id.in_(ids)
                )
            ).all()
        )
        labels: dict[str, str] = {}
        for linked, label in connection.execute(
            select(LabelRow.order_id, LabelRow.label)
            .where(LabelRow.order_id.in_(ids))
            .order_by(LabelRow.known_at, LabelRow.id)
        ):
            labels[linked] = label  # the latest known label wins
    return [
        LinkedOrder(
            order_id=linked,
            created_at=created[linked],
            shared=tuple(shared[linked]),
            tier=decisions[linked].tier,
            action=decisions[linked].action,
            score=decisions[linked].score,
            case_id=cases.get(linked, (None, None))[0],
            case_status=cases.get(linked, (None, None))[1],
            stock_state=stock.get(linked),
            label=labels.get(linked),
        )
        for linked in ids
        if linked in decisions
    ]
