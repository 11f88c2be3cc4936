"""Browser sessions: a random cookie, its digest in the database, idle and absolute expiry.

Each session carries its own CSRF token, which every state-changing form must
send back. The last use is written at most once a minute.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine

from service.auth.credentials import digest, new_token
from service.auth.people import Identity
from service.auth.principal import Principal
from service.persistence.access import end_sessions, insert_session, live_session, touch_session

SESSION_COOKIE = "ordershield_session"
# The last use is written at most this often (and at least four times per idle limit).
TOUCH_RESOLUTION = timedelta(minutes=1)


class Sessions:
    """Starts, checks and ends sessions."""

    def __init__(self, engine: Engine, idle: timedelta, lifetime: timedelta) -> None:
        self._engine = engine
        self.idle = idle
        self.lifetime = lifetime
        self._touch_every = min(TOUCH_RESOLUTION, idle / 4)

    def start(self, identity: Identity) -> str:
        """Open a session for this identity; return its cookie value."""
        token = new_token()
        insert_session(
            self._engine, digest(token), identity.user_id, new_token(), datetime.now(UTC)
        )
        return token

    def principal(self, token: str | None) -> Principal | None:
        """Return who a live, unexpired session belongs to (an expired one is ended)."""
        if not token:
            return None
        found = live_session(self._engine, digest(token))
        if found is None or found.user.disabled_at is not None:
            return None
        now = datetime.now(UTC)
        if now - found.last_seen_at > self.idle or now - found.created_at > self.lifetime:
            end_sessions(self._engine, now, digest=found.digest)
            return None
        if now - found.last_seen_at >= self._touch_every:
            touch_session(self._engine, found.digest, now)
        user = found.user
        return Principal("user", user.id, user.username, user.role, csrf_token=found.csrf_token)

    def end(self, token: str | None) -> None:
        """End the session of this cookie, if any."""
        if token:
            end_sessions(self._engine, datetime.now(UTC), digest=digest(token))
