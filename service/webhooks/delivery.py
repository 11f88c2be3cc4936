"""Deliver the outbox to the order system's endpoints: at least once, in order per order id.

One pass (`deliver_due`) fans new outbox events out into delivery rows, leases
the due ones, POSTs each outside any database transaction, and records the
answer. A crash after a POST and before its mark delivers that event again
once the lease runs out, so receivers drop repeated event ids.
"""

from __future__ import annotations

import logging
import os
import random
import socket
import uuid
from datetime import UTC, datetime, timedelta

import httpx
import orjson
from sqlalchemy import Engine

from service.persistence.webhooks import DueDelivery, fan_out, lease_due, mark_attempt
from service.settings import ServiceSettings
from service.webhooks.service import shown_url
from service.webhooks.signing import EVENT_ID_HEADER, SIGNATURE_HEADER, sign

log = logging.getLogger(__name__)
BATCH = 20
# Rounds of one pass: a delivered event unblocks the next event of its order.
MAX_ROUNDS = 10
ERROR_BODY_BYTES = 300
USER_AGENT = "OrderShield-Webhooks/1"
_RANDOM = random.SystemRandom()


def event_body(delivery: DueDelivery) -> bytes:
    """Return the JSON body of a delivery's event, exactly as it is signed and sent."""
    event = {
        "id": f"evt_{delivery.event_id}",
        "type": delivery.kind,
        "created": delivery.event_created_at.isoformat(),
        "order_id": delivery.order_id,
        "data": delivery.payload,
    }
    return orjson.dumps(event)


def backoff(attempts: int, settings: ServiceSettings) -> timedelta:
    """Return a delay before attempt `attempts + 1`: exponential with full jitter."""
    base = settings.webhook_backoff_base_seconds
    ceiling = min(settings.webhook_backoff_max_seconds, base * 2.0 ** min(attempts - 1, 62))
    return timedelta(seconds=_RANDOM.uniform(0, ceiling))


def deliver_due(
    engine: Engine,
    settings: ServiceSettings,
    client: httpx.Client | None = None,
    now: datetime | None = None,
) -> int:
    """Fan out new events and POST every due delivery once; return how many were delivered."""
    fixed = now
    now = now or datetime.now(UTC)
    fan_out(engine, now, now + timedelta(seconds=settings.webhook_give_up_seconds))
    worker = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
    # The lease should outlast a batch of slow receivers; one that runs out early only
    # risks a repeated delivery, which receivers drop by event id.
    lease = timedelta(seconds=settings.webhook_timeout_seconds * 2 * BATCH + 30)
    own = client is None
    delivered, attempted = 0, set[int]()
    try:
        for _ in range(MAX_ROUNDS):
            now = fixed or datetime.now(UTC)
            due = lease_due(engine, worker, now, now + lease, BATCH, attempted)
            if not due:
                break
            if client is None:
                client = _client(settings)
            round_delivered = 0
            for delivery in due:
                attempted.add(delivery.id)
                round_delivered += _attempt(engine, settings, client, delivery, worker, fixed)
            delivered += round_delivered
            if not round_delivered:
                break  # nothing new can have been unblocked
    finally:
        if own and client is not None:
            client.close()
    return delivered


def _client(settings: ServiceSettings) -> httpx.Client:
    timeout = httpx.Timeout(settings.webhook_timeout_seconds)
    return httpx.Client(timeout=timeout, follow_redirects=False, headers={"User-Agent": USER_AGENT})


def _attempt(
    engine: Engine,
    settings: ServiceSettings,
    client: httpx.Client,
    delivery: DueDelivery,
    worker: str,
    fixed: datetime | None,
) -> int:
    """POST one delivery, once, and record the outcome; return 1 when it was delivered."""
    body = event_body(delivery)
    sent_at = fixed or datetime.now(UTC)
    headers = {
        "Content-Type": "application/json",
        EVENT_ID_HEADER: f"evt_{delivery.event_id}",
        SIGNATURE_HEADER: sign(body, delivery.secrets, int(sent_at.timestamp())),
    }
    status, error = _post(client, delivery.url, body, headers)
    at = fixed or datetime.now(UTC)
    if error is None:
        mark_attempt(engine, delivery.id, worker, at, status, None, None)
        return 1
    next_at: datetime | None = at + backoff(delivery.attempts + 1, settings)
    if next_at is not None and next_at > delivery.give_up_at:
        next_at = None  # the next try would fall past the horizon: give up now
        log.warning(
            "webhook delivery %s to %s failed for good: %s",
            delivery.id,
            shown_url(delivery.url),
            error,
        )
    mark_attempt(engine, delivery.id, worker, at, status, error, next_at)
    return 0


def _post(
    client: httpx.Client, url: str, body: bytes, headers: dict[str, str]
) -> tuple[int | None, str | None]:
    """Send the request; return its status and, unless it was a 2xx, why it failed."""
    try:
        with client.stream("POST", url, content=body, headers=headers) as response:
            if 200 <= response.status_code < 300:
                return response.status_code, None
            return response.status_code, f"HTTP {response.status_code}: {_start(response)}"
    except httpx.HTTPError as exc:
        return None, f"{type(exc).__name__}: {exc}"[:ERROR_BODY_BYTES]


def _start(response: httpx.Response) -> str:
    """Return the first bytes of an error answer, for the delivery log."""
    chunk = b""
    for part in response.iter_bytes():
        chunk += part
        if len(chunk) >= ERROR_BODY_BYTES:
            break
    return chunk[:ERROR_BODY_BYTES].decode("utf-8", "replace")
