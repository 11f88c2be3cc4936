"""Every SQL statement of webhooks: endpoints, the outbox fan-out, leases and delivery marks."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, fields
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from sqlalchemy import Connection, Engine, Table, exists, func, insert, or_, select, update

from service.persistence.audit_log import append_entry
from service.persistence.db import lock, translate_errors, writing
from service.persistence.errors import InvalidRecord, NotFound
from service.persistence.tables import OutboxEventRow, WebhookDeliveryRow, WebhookEndpointRow

ENDPOINTS = cast(Table, WebhookEndpointRow.__table__)
DELIVERIES = cast(Table, WebhookDeliveryRow.__table__)
EVENTS = cast(Table, OutboxEventRow.__table__)
EARLIER = DELIVERIES.alias("earlier")
FANOUT_LOCK = 0x4F53_5748  # pg_advisory_xact_lock key: one fan-out at a time
FANOUT_BATCH = 1000
# PostgreSQL hands out outbox ids at insert, not at commit: a missing id may still
# commit. The cursor waits at such a gap until the events after it are this old, so
# only a transaction left open that long after writing its event could lose it.
GAP_SETTLE = timedelta(seconds=60)
LIVE = ENDPOINTS.c.removed_at.is_(None)
# An earlier event of the same order is still owed to the same endpoint.
BLOCKED = (
    exists()
    .where(
        EARLIER.c.endpoint_id == DELIVERIES.c.endpoint_id,
        EARLIER.c.order_id == DELIVERIES.c.order_id,
        EARLIER.c.event_id < DELIVERIES.c.event_id,
        EARLIER.c.status.in_(("pending", "failed")),
    )
    .correlate(DELIVERIES)
)


@dataclass(frozen=True)
class WebhookEndpoint:
    """An endpoint as it is shown: never its secrets, only until when an old one still signs."""

    id: int
    url: str
    description: str | None
    created_at: datetime
    removed_at: datetime | None
    previous_secret_expires_at: datetime | None


@dataclass(frozen=True)
class DueDelivery:
    """A leased delivery with what its request needs: the event, the URL and the secrets."""

    id: int
    event_id: int
    kind: str
    order_id: str
    payload: dict[str, Any]
    event_created_at: datetime
    url: str
    secrets: tuple[str, ...]
    attempts: int
    give_up_at: datetime


@dataclass(frozen=True)
class Delivery:
    """A line of the delivery log; `blocked` when an earlier event of the order is owed."""

    id: int
    event_id: int
    kind: str
    order_id: str
    endpoint_id: int
    url: str
    status: str
    attempts: int
    last_status: int | None
    last_error: str | None
    last_attempt_at: datetime | None
    next_attempt_at: datetime
    delivered_at: datetime | None
    blocked: bool


SHOWN_ENDPOINT = [ENDPOINTS.c[field.name] for field in fields(WebhookEndpoint)]
EVENT_COLUMNS = (EVENTS.c.kind, EVENTS.c.payload, EVENTS.c.created_at.label("event_created_at"))
SECRET_COLUMNS = (
    ENDPOINTS.c.url,
    ENDPOINTS.c.secret,
    ENDPOINTS.c.previous_secret,
    ENDPOINTS.c.previous_secret_expires_at,
)
LOG_COLUMNS = [
    *(DELIVERIES.c[f.name] for f in fields(Delivery) if f.name not in ("kind", "url", "blocked")),
    EVENTS.c.kind,
    ENDPOINTS.c.url,
    (BLOCKED & (DELIVERIES.c.status == "pending")).label("blocked"),
]
WITH_EVENT_AND_ENDPOINT = DELIVERIES.join(EVENTS, EVENTS.c.id == DELIVERIES.c.event_id).join(
    ENDPOINTS, ENDPOINTS.c.id == DELIVERIES.c.endpoint_id
)


def _endpoint(connection: Connection, endpoint_id: int, live: bool = False) -> WebhookEndpoint:
    row = connection.execute(select(*SHOWN_ENDPOINT).where(ENDPOINTS.c.id == endpoint_id)).first()
    if row is None:
        raise NotFound(f"no webhook endpoint {endpoint_id}")
    if live and row.removed_at is not None:
        raise InvalidRecord(f"webhook endpoint {endpoint_id} was removed")
    return WebhookEndpoint(**row._mapping)


@translate_errors
def insert_endpoint(
    engine: Engine,
    url: str,
    description: str | None,
    secret: str,
    at: datetime,
    *,
    actor: str,
    shown_url: str,
) -> WebhookEndpoint:
    """Store an endpoint that receives the events written from now on; log it as `shown_url`."""
    with writing(engine) as connection:
        newest = connection.execute(select(func.coalesce(func.max(EVENTS.c.id), 0))).scalar_one()
        values = {"url": url, "description": description, "secret": secret, "created_at": at}
        key = connection.execute(insert(ENDPOINTS).values(**values, fanned_out_through=newest))
        endpoint_id = int(key.inserted_primary_key[0])  # type: ignore[index]
        body = {"endpoint_id": endpoint_id, "url": shown_url, "description": description}
        append_entry(connection, "webhook.added", f"webhook:{endpoint_id}", actor, body, at)
        return _endpoint(connection, endpoint_id)


@translate_errors
def list_endpoints(engine: Engine) -> list[WebhookEndpoint]:
    """Return every endpoint, removed ones too, oldest first."""
    with engine.connect() as connection:
        rows = connection.execute(select(*SHOWN_ENDPOINT).order_by(ENDPOINTS.c.id))
        return [WebhookEndpoint(**row._mapping) for row in rows]


@translate_errors
def remove_endpoint(engine: Engine, endpoint_id: int, at: datetime, actor: str) -> None:
    """Stop delivering to an endpoint; what it was still owed is marked failed."""
    with writing(engine) as connection:
        _endpoint(connection, endpoint_id, live=True)
        subject = f"webhook:{endpoint_id}"
        body = {"endpoint_id": endpoint_id}
        append_entry(connection, "webhook.removed", subject, actor, body, at)
        this = ENDPOINTS.c.id == endpoint_id
        connection.execute(update(ENDPOINTS).where(this).values(removed_at=at))
        owed = (DELIVERIES.c.endpoint_id == endpoint_id, DELIVERIES.c.status == "pending")
        gone = {"status": "failed", "last_error": "endpoint removed", "leased_by": None}
        connection.execute(update(DELIVERIES).where(*owed).values(**gone))


@translate_errors
def rotate_endpoint_secret(
    engine: Engine,
    endpoint_id: int,
    secret: str,
    previous_until: datetime,
    force: bool = False,
    *,
    actor: str,
) -> WebhookEndpoint:
    """Sign with a new secret from now on, and with the current one too until `previous_until`.

    A rotation while an older secret still has its grace would end that grace at
    once, so it is refused unless `force`d (a leaked secret must go now).
    """
    with writing(engine) as connection:
        current = _endpoint(connection, endpoint_id, live=True)
        grace = current.previous_secret_expires_at
        if grace is not None and grace > datetime.now(UTC) and not force:
            raise InvalidRecord(
                f"endpoint {endpoint_id} still signs with its previous secret until "
                f"{grace:%Y-%m-%d %H:%M} UTC: rotate after that, or force it to end that now"
            )
        # SET reads the row as it was: the current secret becomes the previous one.
        rotated = {
            "previous_secret": ENDPOINTS.c.secret,
            "previous_secret_expires_at": previous_until,
        }
        connection.execute(
            update(ENDPOINTS).where(ENDPOINTS.c.id == endpoint_id).values(secret=secret, **rotated)
        )
        body = {"endpoint_id": endpoint_id, "previous_until": previous_until.isoformat()}
        append_entry(connection, "webhook.secret_rotated", f"webhook:{endpoint_id}", actor, body)
        return _endpoint(connection, endpoint_id)


@translate_errors
def fan_out(engine: Engine, now: datetime, give_up_at: datetime) -> int:
    """Create a pending delivery per live endpoint for each new outbox event; return how many."""
    with engine.connect() as connection:  # a read first: most passes find nothing new
        newest = connection.execute(select(func.max(EVENTS.c.id))).scalar() or 0
        behind = ENDPOINTS.c.fanned_out_through < newest
        if connection.execute(select(ENDPOINTS.c.id).where(LIVE, behind)).first() is None:
            return 0
    settled = datetime.now(UTC) - GAP_SETTLE
    created = 0
    with writing(engine) as connection:
        lock(connection, FANOUT_LOCK)
        cursors = select(ENDPOINTS.c.id, ENDPOINTS.c.fanned_out_through).where(LIVE)
        for endpoint_id, through in connection.execute(cursors).all():
            events = connection.execute(
                select(EVENTS.c.id, EVENTS.c.order_id, EVENTS.c.created_at)
                .where(EVENTS.c.id > through)
                .order_by(EVENTS.c.id)
                .limit(FANOUT_BATCH)
            ).all()
            mine = DELIVERIES.c.endpoint_id == endpoint_id
            known = select(DELIVERIES.c.event_id).where(mine, DELIVERIES.c.event_id > through)
            done = set(connection.execute(known).scalars())
            base = {"endpoint_id": endpoint_id, "status": "pending", "attempts": 0}
            times = {"created_at": now, "next_attempt_at": now, "give_up_at": give_up_at}
            rows = [
                {**base, **times, "event_id": event.id, "order_id": event.order_id}
                for event in events
                if event.id not in done
            ]
            if rows:
                connection.execute(insert(DELIVERIES), rows)
                created += len(rows)
            cursor = through
            for event in events:
                if event.id != cursor + 1 and event.created_at > settled:
                    break  # a gap that may still fill in: wait at it
                cursor = event.id
            if cursor != through:
                at_cursor = {"fanned_out_through": cursor}
                connection.execute(
                    update(ENDPOINTS).where(ENDPOINTS.c.id == endpoint_id).values(**at_cursor)
                )
    return created


@translate_errors
def lease_due(
    engine: Engine,
    worker: str,
    now: datetime,
    lease_until: datetime,
    limit: int,
    skip: Collection[int] = (),
) -> list[DueDelivery]:
    """Lease due deliveries whose order owes their endpoint no earlier event, oldest first.

    Rows another transaction is leasing are skipped (PostgreSQL), and a lease
    keeps them from every other drainer until it runs out, so a crashed
    drainer's rows come back; on SQLite the write transaction serializes drainers.
    """
    free = or_(DELIVERIES.c.lease_expires_at.is_(None), DELIVERIES.c.lease_expires_at <= now)
    due = DELIVERIES.c.next_attempt_at <= now
    conditions = [DELIVERIES.c.status == "pending", due, free, LIVE, ~BLOCKED]
    if skip:
        conditions.append(DELIVERIES.c.id.not_in(list(skip)))
    query = (
        select(DELIVERIES.c.id)
        .join(ENDPOINTS, ENDPOINTS.c.id == DELIVERIES.c.endpoint_id)
        .where(*conditions)
        .order_by(DELIVERIES.c.event_id)
        .limit(limit)
        .with_for_update(skip_locked=True, of=DELIVERIES)
    )
    with writing(engine) as connection:
        ids = list(connection.execute(query).scalars())
        if not ids:
            return []
        lease = {"leased_by": worker, "lease_expires_at": lease_until}
        connection.execute(update(DELIVERIES).where(DELIVERIES.c.id.in_(ids)).values(**lease))
        rows = connection.execute(
            select(
                DELIVERIES.c.id,
                DELIVERIES.c.event_id,
                DELIVERIES.c.order_id,
                DELIVERIES.c.attempts,
                DELIVERIES.c.give_up_at,
                *EVENT_COLUMNS,
                *SECRET_COLUMNS,
            )
            .select_from(WITH_EVENT_AND_ENDPOINT)
            .where(DELIVERIES.c.id.in_(ids))
            .order_by(DELIVERIES.c.event_id)
        ).all()
    return [_due(row._mapping, now) for row in rows]


def _due(row: Any, now: datetime) -> DueDelivery:
    previous, until = row["previous_secret"], row["previous_secret_expires_at"]
    secrets = (row["secret"], previous) if previous and until and until > now else (row["secret"],)
    names = (f.name for f in fields(DueDelivery) if f.name != "secrets")
    return DueDelivery(secrets=secrets, **{name: row[name] for name in names})


@translate_errors
def mark_attempt(
    engine: Engine,
    delivery_id: int,
    worker: str,
    at: datetime,
    status_code: int | None,
    error: str | None,
    next_attempt_at: datetime | None,
) -> None:
    """Record an attempt: delivered when `error` is None, else retried at `next_attempt_at`
    or, with None, given up as failed."""
    this = [DELIVERIES.c.id == delivery_id, DELIVERIES.c.status == "pending"]
    values: dict[str, Any] = {"status": "delivered", "delivered_at": at}
    if error is not None:
        # Only the lease holder: a drainer whose lease ran out must not undo another's work
        # (a 2xx is marked by anyone: the event did arrive).
        this.append(DELIVERIES.c.leased_by == worker)
        values = {"status": "failed"} if next_attempt_at is None else {}
        values["next_attempt_at"] = next_attempt_at or at
    with writing(engine) as connection:
        connection.execute(
            update(DELIVERIES)
            .where(*this)
            .values(
                **values,
                attempts=DELIVERIES.c.attempts + 1,
                last_attempt_at=at,
                last_status=status_code,
                last_error=None if error is None else error[:500],
                leased_by=None,
                lease_expires_at=None,
            )
        )


@translate_errors
def retry_delivery(engine: Engine, delivery_id: int, at: datetime, give_up_at: datetime) -> None:
    """Put a failed delivery back in the queue, due now, with a new give-up horizon."""
    with writing(engine) as connection:
        this = DELIVERIES.c.id == delivery_id
        found = select(DELIVERIES.c.status, DELIVERIES.c.endpoint_id).where(this)
        row = connection.execute(found).first()
        if row is None:
            raise NotFound(f"no webhook delivery {delivery_id}")
        if row.status != "failed":
            raise InvalidRecord(f"delivery {delivery_id} is {row.status}: only failed ones retry")
        _endpoint(connection, row.endpoint_id, live=True)
        again = {"status": "pending", "next_attempt_at": at, "give_up_at": give_up_at}
        connection.execute(update(DELIVERIES).where(this).values(**again, lease_expires_at=None))


@translate_errors
def list_deliveries(engine: Engine, limit: int = 200) -> list[Delivery]:
    """Return the newest deliveries first, with their event's kind and endpoint's URL."""
    query = (
        select(*LOG_COLUMNS)
        .select_from(WITH_EVENT_AND_ENDPOINT)
        .order_by(DELIVERIES.c.id.desc())
        .limit(limit)
    )
    with engine.connect() as connection:
        rows = connection.execute(query)
        return [Delivery(**{**row._mapping, "blocked": bool(row.blocked)}) for row in rows]
