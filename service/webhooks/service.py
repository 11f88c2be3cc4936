"""Manage webhook endpoints and retries: new secrets, rotation with a grace period."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

from sqlalchemy import Engine

from service.auth.principal import operator
from service.persistence.errors import InvalidRecord
from service.persistence.webhooks import (
    WebhookEndpoint,
    insert_endpoint,
    remove_endpoint,
    retry_delivery,
    rotate_endpoint_secret,
)
from service.settings import ServiceSettings

SECRET_PREFIX = "whsec_"


def new_secret() -> str:
    """Return a fresh signing secret."""
    return SECRET_PREFIX + secrets.token_urlsafe(32)


def _checked_url(url: str) -> str:
    """Return the URL if it is http(s) to a host, with no credentials in it.

    Endpoints are added by operators only (the command line), and the order
    system often lives on a private network, so private addresses are allowed;
    credentials belong in the signature, not in a URL that pages and logs show.
    """
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidRecord(f"a webhook URL must be http(s)://host/..., got {shown_url(url)!r}")
    if parts.username or parts.password:
        raise InvalidRecord("a webhook URL carries no user or password: the signature proves us")
    return parts.geturl()


def shown_url(url: str) -> str:
    """Return a URL as pages and logs show it: without its query, which may carry a token."""
    parts = urlsplit(url)
    return parts._replace(query="…" if parts.query else "", fragment="").geturl()


def add_endpoint(
    engine: Engine, url: str, description: str | None = None, actor: str | None = None
) -> tuple[WebhookEndpoint, str]:
    """Register an endpoint for the events from now on; return it and its secret (shown once)."""
    secret = new_secret()
    checked = _checked_url(url)
    endpoint = insert_endpoint(
        engine,
        checked,
        description,
        secret,
        datetime.now(UTC),
        actor=actor or operator(),
        shown_url=shown_url(checked),
    )
    return endpoint, secret


def rotate_secret(
    engine: Engine,
    settings: ServiceSettings,
    endpoint_id: int,
    force: bool = False,
    actor: str | None = None,
) -> tuple[WebhookEndpoint, str]:
    """Give an endpoint a new secret; the old one also signs for the grace period."""
    secret = new_secret()
    until = datetime.now(UTC) + timedelta(seconds=settings.webhook_secret_grace_seconds)
    rotated = rotate_endpoint_secret(
        engine, endpoint_id, secret, until, force, actor=actor or operator()
    )
    return rotated, secret


def remove(engine: Engine, endpoint_id: int, actor: str | None = None) -> None:
    """Stop delivering to an endpoint."""
    remove_endpoint(engine, endpoint_id, datetime.now(UTC), actor or operator())


def retry(
    engine: Engine, settings: ServiceSettings, delivery_id: int, now: datetime | None = None
) -> None:
    """Queue a failed delivery again, due now, retried for a new give-up horizon."""
    now = now or datetime.now(UTC)
    retry_delivery(
        engine, delivery_id, now, now + timedelta(seconds=settings.webhook_give_up_seconds)
    )
