"""API keys for machine clients: created with scopes and a role, checked on every call.

Every call looks its key up in the database, so a revoked key stops working
at once, in every process. The last use is recorded at most once a minute per
key, to keep a write off every scored order.
"""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine

from service.auth.credentials import KEY_PREFIX, digest, new_token
from service.auth.principal import Principal, operator
from service.auth.roles import KEY_ROLE_DEFAULT, REVIEW_ROLES, ROLES, SCOPES
from service.persistence.access import (
    api_key_by_digest,
    api_keys,
    insert_api_key,
    mark_api_key_used,
    revoke_api_key,
)
from service.persistence.db import within
from service.persistence.errors import DatabaseUnavailable
from service.persistence.records import ApiKey

LAST_USE_RESOLUTION = timedelta(minutes=1)
# How long recording a key's use may wait for the database.
LAST_USE_BUDGET_S = 0.02


class InvalidKey(ValueError):
    """Raised for a key that cannot be created as asked."""


def create_key(
    engine: Engine,
    name: str,
    scopes: Iterable[str],
    role: str = KEY_ROLE_DEFAULT,
    actor: str | None = None,
) -> tuple[ApiKey, str]:
    """Store a new key; return it and its token, which is never stored or shown again."""
    wanted = sorted(set(scopes))
    unknown = [s for s in wanted if s not in SCOPES]
    if unknown or not wanted:
        raise InvalidKey(f"scopes must be some of {', '.join(SCOPES)}; got {', '.join(wanted)}")
    if role not in ROLES:
        raise InvalidKey(f"role must be one of {', '.join(ROLES)}; got {role!r}")
    if "score" in wanted and role != KEY_ROLE_DEFAULT:
        # The scoring answer is the decision on the order the client itself sent, whole;
        # only the order system's role gets it.
        raise InvalidKey(f"the score scope goes with the {KEY_ROLE_DEFAULT} role only")
    if "review" in wanted and role not in REVIEW_ROLES:
        raise InvalidKey(f"the review scope goes with the roles {', '.join(REVIEW_ROLES)}")
    if not name.strip():
        raise InvalidKey("a key needs a name")
    key = ApiKey(
        id=secrets.token_hex(6),
        name=name.strip(),
        scopes=wanted,
        role=role,
        created_at=datetime.now(UTC),
        last_used_at=None,
        revoked_at=None,
    )
    token = new_token(KEY_PREFIX)
    insert_api_key(engine, key, digest(token), actor or operator())
    return key, token


def key_principal(engine: Engine, token: str) -> Principal | None:
    """Return the caller a live key stands for, recording its use; None for any other token."""
    if not token.startswith(KEY_PREFIX):
        return None
    key = api_key_by_digest(engine, digest(token))
    if key is None or key.revoked_at is not None:
        return None
    now = datetime.now(UTC)
    if key.last_used_at is None or now - key.last_used_at >= LAST_USE_RESOLUTION:
        # Bookkeeping on the request's path: a busy database skips it, the next call retries.
        with within(LAST_USE_BUDGET_S), contextlib.suppress(DatabaseUnavailable):
            mark_api_key_used(engine, key.id, now)
    return Principal("key", key.id, key.name, key.role, frozenset(key.scopes))


def list_keys(engine: Engine) -> list[ApiKey]:
    """Return every key, revoked ones included."""
    return api_keys(engine)


def revoke_key(engine: Engine, key_id: str, actor: str | None = None) -> bool:
    """Revoke a key; return False when no live key has this id."""
    return revoke_api_key(engine, key_id, datetime.now(UTC), actor or operator())
