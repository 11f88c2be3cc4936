"""People who sign in: their accounts, and the one place identities come from.

`IdentitySource` is that place. Today it is `PasswordIdentities` (argon2 hashes
in the database); an OIDC provider would be another source returning the same
`Identity`, and sessions, roles and masking would not change.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol
from uuid import uuid4

from sqlalchemy import Engine

from service.auth.credentials import hash_password, password_matches
from service.auth.principal import operator
from service.auth.roles import PERSON_ROLES
from service.persistence.access import end_sessions, insert_user, update_user, user_by_username
from service.persistence.access import users as all_users
from service.persistence.records import User


class InvalidUser(ValueError):
    """Raised for an account that cannot be created or changed as asked."""


@dataclass(frozen=True)
class Identity:
    """A person as an identity source vouches for them."""

    user_id: str
    username: str
    role: str


class IdentitySource(Protocol):
    """Where identities come from."""

    def authenticate(self, username: str, password: str) -> Identity | None:
        """Return the identity these credentials prove, or None."""
        ...


class PasswordIdentities:
    """Identities of accounts in the database, proven by password."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def authenticate(self, username: str, password: str) -> Identity | None:
        """Return the identity of an enabled account whose password matches."""
        user = user_by_username(self._engine, username)
        matches = password_matches(user.password_hash if user else None, password)
        if user is None or not matches or user.disabled_at is not None:
            return None
        return Identity(user.id, user.username, user.role)


def create_user(
    engine: Engine, username: str, role: str, password: str, actor: str | None = None
) -> User:
    """Create an account for a person with one of the people roles; `actor` is who asked."""
    username = username.strip()
    if role not in PERSON_ROLES:
        raise InvalidUser(f"role must be one of {', '.join(PERSON_ROLES)}; got {role!r}")
    if not username or len(username) > 64 or not username.isprintable() or " " in username:
        raise InvalidUser("a username is 1 to 64 printable characters without spaces")
    try:
        password_hash = hash_password(password)
    except ValueError as error:
        raise InvalidUser(str(error)) from error
    user = User(uuid4().hex, username, role, password_hash, datetime.now(UTC), None)
    insert_user(engine, user, actor or operator())
    return user


def list_users(engine: Engine) -> list[User]:
    """Return every account."""
    return all_users(engine)


def disable_user(engine: Engine, username: str, actor: str | None = None) -> bool:
    """Disable an account and end its sessions; return False for an unknown username."""
    user = user_by_username(engine, username)
    if user is None:
        return False
    now = datetime.now(UTC)
    update_user(engine, username, actor or operator(), disabled_at=now)
    end_sessions(engine, now, user_id=user.id)
    return True
