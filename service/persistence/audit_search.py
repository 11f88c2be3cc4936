"""The legal panel's SQL: decision search, an order's webhooks, and per-version figures.

Search filters are checked before any SQL runs: an unknown entity kind, tier or
action, text with a control character (PostgreSQL cannot even bind a NUL), a
naive time, one outside the years 2000 to 2100 or an inverted range is an
`InvalidQuery` naming its field. Times are kept in UTC.
Results come newest first, at most `MAX_LIMIT` per page. The JSON columns
(reasons, SHAP values) are read with each database's own JSON functions, so a
filter or an average over them runs in the database, not in Python.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import Engine, Float, String, Table, exists, func, select, true
from sqlalchemy.sql import ColumnElement

from models.scorer import Action, Tier
from service.inputs import NO_CONTROL, has_control
from service.persistence.db import translate_errors
from service.persistence.errors import InvalidRecord
from service.persistence.review import LINK_KINDS
from service.persistence.tables import (
    CaseActionRow,
    DecisionLinkRow,
    DecisionRow,
    OutboxEventRow,
    ReviewCaseRow,
    WebhookDeliveryRow,
    WebhookEndpointRow,
)

DECISIONS = cast(Table, DecisionRow.__table__)
LINKS = cast(Table, DecisionLinkRow.__table__)
ACTIONS_TABLE = cast(Table, CaseActionRow.__table__)
CASES = cast(Table, ReviewCaseRow.__table__)
EVENTS = cast(Table, OutboxEventRow.__table__)
DELIVERIES = cast(Table, WebhookDeliveryRow.__table__)
ENDPOINTS = cast(Table, WebhookEndpointRow.__table__)
MAX_LIMIT = 200
MAX_TEXT = 256
TIERS: tuple[str, ...] = tuple(tier.value for tier in Tier)
ACTIONS: tuple[str, ...] = tuple(action.value for action in Action)
ENTITY_KINDS: tuple[str, ...] = LINK_KINDS
FEATURE_NAME = re.compile(r"[a-z0-9_]{1,64}")
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
LATEST = datetime(2101, 1, 1, tzinfo=UTC)
OUT_OF_RANGE = "must be within the years 2000 to 2100 (UTC)"


def utc_within(moment: datetime) -> datetime | None:
    """Return an aware time in UTC, or None when it falls outside `EARLIEST` to `LATEST`.

    A time near either end of the calendar may not even have a UTC form
    (year 1 at +14:00): that is outside too, never an `OverflowError`.
    """
    try:
        utc = moment.astimezone(UTC)
    except OverflowError:
        return None
    return utc if EARLIEST <= utc <= LATEST else None


class InvalidQuery(InvalidRecord):
    """A search filter that cannot be used; `field` names it."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field


@dataclass(frozen=True)
class DecisionQuery:
    """What the decisions are narrowed to (None: any), and which page of them."""

    order_id: str | None = None
    customer_id: str | None = None
    entity_kind: str | None = None
    entity_key: str | None = None
    start: datetime | None = None
    end: datetime | None = None
    tier: str | None = None
    action: str | None = None
    reason: str | None = None
    model_version: str | None = None
    reviewer: str | None = None
    limit: int = 50
    offset: int = 0

    def __post_init__(self) -> None:
        texts = ("order_id", "customer_id", "entity_key", "model_version", "reviewer")
        for name in texts:
            value = getattr(self, name)
            if value is not None and not 0 < len(value) <= MAX_TEXT:
                raise InvalidQuery(name, f"must be 1 to {MAX_TEXT} characters")
            if value is not None and has_control(value):
                raise InvalidQuery(name, NO_CONTROL)
        for name, allowed in (
            ("entity_kind", ENTITY_KINDS),
            ("tier", TIERS),
            ("action", ACTIONS),
        ):
            value = getattr(self, name)
            if value is not None and value not in allowed:
                raise InvalidQuery(name, f"must be one of {', '.join(allowed)}; got {value!r}")
        if (self.entity_kind is None) != (self.entity_key is None):
            missing = "entity_key" if self.entity_key is None else "entity_kind"
            raise InvalidQuery(missing, "an entity is searched by its kind and its key together")
        if self.reason is not None and not FEATURE_NAME.fullmatch(self.reason):
            raise InvalidQuery("reason", "must be a feature name (lower case, digits, '_')")
        for name in ("start", "end"):
            value = getattr(self, name)
            if value is None:
                continue
            if value.tzinfo is None or value.utcoffset() is None:
                raise InvalidQuery(name, "must carry a time zone")
            utc = utc_within(value)
            if utc is None:
                raise InvalidQuery(name, OUT_OF_RANGE)
            object.__setattr__(self, name, utc)  # frozen: set once, as checked
        if self.start and self.end and self.start >= self.end:
            raise InvalidQuery("end", "must be after start")
        if not 1 <= self.limit <= MAX_LIMIT:
            raise InvalidQuery("limit", f"must be between 1 and {MAX_LIMIT}")
        if self.offset < 0:
            raise InvalidQuery("offset", "must not be negative")


@dataclass(frozen=True)
class DecisionHit:
    """One decision found, with what the results table shows."""

    order_id: str
    decision_id: str
    customer_id: str | None
    decided_at: datetime
    score: float
    tier: str
    action: str
    model_name: str
    model_version: str
    top_reason: str | None


@dataclass(frozen=True)
class SearchPage:
    """One page of results; `more` when a next page has any."""

    hits: tuple[DecisionHit, ...]
    offset: int
    limit: int
    more: bool


def _has_reason(dialect: str, feature: str) -> ColumnElement[bool]:
    """Return the condition that a decision's reasons name `feature`."""
    if dialect == "postgresql":
        element = func.json_array_elements(DECISIONS.c.reasons).table_valued("value")
        named: ColumnElement[Any] = element.c.value.op("->>")("feature")
    else:
        element = func.json_each(DECISIONS.c.reasons).table_valued("value")
        named = func.json_extract(element.c.value, "$.feature")
    return exists(select(1).select_from(element).where(named == feature))


def _conditions(query: DecisionQuery, dialect: str) -> list[ColumnElement[bool]]:
    d = DECISIONS.c
    where: list[ColumnElement[bool]] = []
    for name in ("order_id", "customer_id", "tier", "action", "model_version"):
        value = getattr(query, name)
        if value is not None:
            where.append(d[name] == value)
    if query.start is not None:
        where.append(d.decided_at >= query.start)
    if query.end is not None:
        where.append(d.decided_at < query.end)
    if query.entity_kind is not None and query.entity_key is not None:
        linked = select(LINKS.c.order_id).where(
            LINKS.c.kind == query.entity_kind, LINKS.c.key == query.entity_key
        )
        where.append(d.order_id.in_(linked))
    if query.reviewer is not None:
        acted = select(ACTIONS_TABLE.c.order_id).where(ACTIONS_TABLE.c.actor == query.reviewer)
        where.append(d.order_id.in_(acted))
    if query.reason is not None:
        where.append(_has_reason(dialect, query.reason))
    return where


def _top(reasons: Any) -> str | None:
    first = reasons[0] if isinstance(reasons, list) and reasons else None
    return str(first["feature"]) if isinstance(first, dict) and "feature" in first else None


def _hit(row: Any) -> DecisionHit:
    return DecisionHit(
        row.order_id,
        row.id,
        row.customer_id,
        row.decided_at,
        row.score,
        row.tier,
        row.action,
        row.model_name,
        row.model_version,
        _top(row.reasons),
    )


@translate_errors
def search_decisions(engine: Engine, query: DecisionQuery) -> SearchPage:
    """Return one page of the decisions that match every filter, newest first."""
    d = DECISIONS.c
    statement = (
        select(
            d.order_id,
            d.id,
            d.customer_id,
            d.decided_at,
            d.score,
            d.tier,
            d.action,
            d.model_name,
            d.model_version,
            d.reasons,
        )
        .where(*_conditions(query, engine.dialect.name))
        .order_by(d.decided_at.desc(), d.id.desc())
        .limit(query.limit + 1)
        .offset(query.offset)
    )
    with engine.connect() as connection:
        rows = connection.execute(statement).all()
    hits = tuple(_hit(row) for row in rows[: query.limit])
    return SearchPage(hits, query.offset, query.limit, len(rows) > query.limit)


@dataclass(frozen=True)
class WebhookLine:
    """One event an order caused, and its delivery to one endpoint (None: no endpoint had it)."""

    event_id: int
    kind: str
    created_at: datetime
    url: str | None
    status: str | None
    attempts: int
    last_status: int | None
    last_attempt_at: datetime | None
    delivered_at: datetime | None


@translate_errors
def webhooks_of(engine: Engine, order_id: str) -> list[WebhookLine]:
    """Return the events of an order with each of their deliveries, oldest first."""
    joined = EVENTS.outerjoin(DELIVERIES, DELIVERIES.c.event_id == EVENTS.c.id).outerjoin(
        ENDPOINTS, ENDPOINTS.c.id == DELIVERIES.c.endpoint_id
    )
    statement = (
        select(
            EVENTS.c.id,
            EVENTS.c.kind,
            EVENTS.c.created_at,
            ENDPOINTS.c.url,
            DELIVERIES.c.status,
            func.coalesce(DELIVERIES.c.attempts, 0),
            DELIVERIES.c.last_status,
            DELIVERIES.c.last_attempt_at,
            DELIVERIES.c.delivered_at,
        )
        .select_from(joined)
        .where(EVENTS.c.order_id == order_id)
        .order_by(EVENTS.c.id, DELIVERIES.c.id)
    )
    with engine.connect() as connection:
        return [WebhookLine(*row) for row in connection.execute(statement)]


def _of_version(model_name: str, version: str) -> list[ColumnElement[bool]]:
    return [DECISIONS.c.model_name == model_name, DECISIONS.c.model_version == version]


@translate_errors
def mean_abs_shap(engine: Engine, model_name: str, version: str) -> tuple[int, dict[str, float]]:
    """Return how many decisions a version made and each feature's mean |SHAP| over them."""
    if engine.dialect.name == "postgresql":
        pairs = func.json_each_text(DECISIONS.c.shap_values).table_valued("key", "value")
        value: ColumnElement[Any] = pairs.c.value.cast(Float)
    else:
        pairs = func.json_each(DECISIONS.c.shap_values).table_valued("key", "value")
        value = pairs.c.value
    where = _of_version(model_name, version)
    with engine.connect() as connection:
        count = connection.execute(select(func.count()).where(*where)).scalar_one()
        rows = connection.execute(
            select(pairs.c.key, func.sum(func.abs(value)))
            .select_from(DECISIONS)
            .join(pairs, true())
            .where(*where)
            .group_by(pairs.c.key)
        ).all()
    return int(count), {str(key): float(total) / count for key, total in rows if count}


@dataclass(frozen=True)
class DayCount:
    """How many decisions of one UTC day got one tier and action."""

    day: str
    tier: str
    action: str
    count: int


def _utc_day(dialect: str) -> ColumnElement[str]:
    if dialect == "postgresql":
        day = func.to_char(func.timezone("UTC", DECISIONS.c.decided_at), "YYYY-MM-DD")
    else:  # SQLite keeps UTC times as text
        day = func.date(DECISIONS.c.decided_at)
    return day.cast(String).label("day")


@translate_errors
def daily_outcomes(engine: Engine, model_name: str, version: str) -> list[DayCount]:
    """Return a version's decisions counted per UTC day, tier and action, oldest day first."""
    day = _utc_day(engine.dialect.name)
    statement = (
        select(day, DECISIONS.c.tier, DECISIONS.c.action, func.count())
        .where(*_of_version(model_name, version))
        .group_by(day, DECISIONS.c.tier, DECISIONS.c.action)
        .order_by(day)
    )
    with engine.connect() as connection:
        return [DayCount(str(d), t, a, int(n)) for d, t, a, n in connection.execute(statement)]


@translate_errors
def case_outcomes(engine: Engine, model_name: str, version: str) -> dict[str, int]:
    """Return the review cases of a version's decisions counted by status."""
    statement = (
        select(CASES.c.status, func.count())
        .select_from(CASES.join(DECISIONS, DECISIONS.c.id == CASES.c.decision_id))
        .where(*_of_version(model_name, version))
        .group_by(CASES.c.status)
    )
    with engine.connect() as connection:
        return {str(status): int(n) for status, n in connection.execute(statement)}


@translate_errors
def stored_versions(engine: Engine) -> list[tuple[str, str, int]]:
    """Return every (model name, version) that made stored decisions, with how many."""
    d = DECISIONS.c
    statement = select(d.model_name, d.model_version, func.count()).group_by(
        d.model_name, d.model_version
    )
    with engine.connect() as connection:
        found = [(str(m), str(v), int(n)) for m, v, n in connection.execute(statement)]
    return sorted(found, key=lambda item: (item[0], _numeric(item[1])), reverse=True)


def _numeric(version: str) -> tuple[int, str]:
    return (int(version), "") if version.isdigit() else (-1, version)
