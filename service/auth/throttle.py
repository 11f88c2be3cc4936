"""Lockout after repeated failed sign-ins, counted per username in the database.

Counting in the database holds across processes and restarts. While a
username is locked, its attempts are refused without checking the password
and without counting, so an attacker cannot extend the lock forever.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine

from service.persistence.access import (
    clear_login_failures,
    login_failures_since,
    record_login_failure,
)


class LoginThrottle:
    """Locks a username for `window` once `max_failures` sign-ins failed within it."""

    def __init__(self, engine: Engine, max_failures: int, window: timedelta) -> None:
        self._engine = engine
        self.max_failures = max_failures
        self.window = window

    def locked_for(self, username: str) -> timedelta | None:
        """Return how much longer the username stays locked, or None."""
        now = datetime.now(UTC)
        count, last = login_failures_since(self._engine, username, now - self.window)
        if count < self.max_failures or last is None:
            return None
        return last + self.window - now

    def failed(self, username: str, client: str | None) -> None:
        """Count a failed sign-in."""
        record_login_failure(self._engine, username, client, datetime.now(UTC))

    def succeeded(self, username: str) -> None:
        """Start counting afresh after a successful sign-in."""
        clear_login_failures(self._engine, username)
