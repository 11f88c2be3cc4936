"""Lockout after repeated failed sign-ins, counted in the database.

Every attempt is counted as a failure before its password is checked, and
forgotten when it succeeds: so parallel guesses see each other and cannot
slip past the limit together. Counting in the database holds across processes
and restarts. While a username is locked, its attempts are refused without
checking the password and are not counted, so the lock cannot be extended
forever. A client address gets `CLIENT_FACTOR` times a username's allowance,
which slows one password tried across many usernames.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine

from service.persistence.access import (
    forget_login_failures,
    login_failures_since,
    record_login_failure,
)

CLIENT_FACTOR = 4


class LoginThrottle:
    """Locks a username for `window` once `max_failures` sign-ins failed within it."""

    def __init__(self, engine: Engine, max_failures: int, window: timedelta) -> None:
        self._engine = engine
        self.max_failures = max_failures
        self.window = window

    def attempt(self, username: str, client: str | None) -> timedelta | None:
        """Count a sign-in attempt; return how long it must wait instead, if locked."""
        now = datetime.now(UTC)
        since = now - self.window
        forget_login_failures(self._engine, before=since)
        attempt_id = record_login_failure(self._engine, username, client, now)
        by_user, _ = login_failures_since(self._engine, since, username=username)
        by_client = 0
        if client is not None:
            by_client, _ = login_failures_since(self._engine, since, client=client)
        if by_user <= self.max_failures and by_client <= self.max_failures * CLIENT_FACTOR:
            return None
        forget_login_failures(self._engine, ids=(attempt_id,))
        return self._wait(username, client, since, now)

    def _wait(self, username: str, client: str | None, since: datetime, now: datetime) -> timedelta:
        """Return the time until the newest counted failure leaves the window (the lock is over)."""
        _, last_user = login_failures_since(self._engine, since, username=username)
        last_client = None
        if client is not None:
            _, last_client = login_failures_since(self._engine, since, client=client)
        last = max((t for t in (last_user, last_client) if t is not None), default=now)
        return max(last + self.window - now, timedelta(seconds=1))

    def succeeded(self, username: str) -> None:
        """Forget the username's failures, this attempt's included."""
        forget_login_failures(self._engine, username=username)
