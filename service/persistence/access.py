"""Every SQL statement of access control: API keys, users, sessions, sign-in failures, PII views.

Changes of keys and users, and unmasked views, are written to the audit log in
the same transaction.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, cast

from sqlalchemy import Engine, Table, bindparam, delete, func, insert, or_, select, update
from sqlalchemy.exc import IntegrityError

from service.persistence.audit_log import append_entry, recent_entries
from service.persistence.db import translate_errors, writing
from service.persistence.errors import InvalidRecord
from service.persistence.records import (
    ApiKey,
    PersonalDataView,
    SignedInSession,
    User,
    from_row,
)
from service.persistence.tables import (
    ApiKeyRow,
    LoginFailureRow,
    SessionRow,
    UserRow,
)

KEYS = cast(Table, ApiKeyRow.__table__)
USERS = cast(Table, UserRow.__table__)
SESSIONS = cast(Table, SessionRow.__table__)
FAILURES = cast(Table, LoginFailureRow.__table__)
KEY_FIELDS = [c for c in KEYS.c if c.name != "digest"]
# Built once: every API call looks its key up.
KEY_BY_DIGEST = select(*KEY_FIELDS).where(KEYS.c.digest == bindparam("digest"))


@translate_errors
def insert_api_key(engine: Engine, key: ApiKey, digest: str, actor: str) -> None:
    """Store a new key under the digest of its token, and log who created it."""
    with writing(engine) as connection:
        connection.execute(insert(KEYS).values(**vars(key), digest=digest))
        body = {"key_id": key.id, "name": key.name, "scopes": key.scopes, "role": key.role}
        append_entry(connection, "key.created", f"key:{key.id}", actor, body, key.created_at)


@translate_errors
def api_key_by_digest(engine: Engine, digest: str) -> ApiKey | None:
    """Return the key whose token has this digest, revoked or not."""
    with engine.connect() as connection:
        row = connection.execute(KEY_BY_DIGEST, {"digest": digest}).first()
    return None if row is None else from_row(ApiKey, row)


@translate_errors
def api_keys(engine: Engine) -> list[ApiKey]:
    """Return every key, oldest first."""
    with engine.connect() as connection:
        rows = connection.execute(select(*KEY_FIELDS).order_by(KEYS.c.created_at, KEYS.c.id))
        return [from_row(ApiKey, row) for row in rows]


@translate_errors
def mark_api_key_used(engine: Engine, key_id: str, at: datetime) -> None:
    """Record when a key was last used."""
    with writing(engine) as connection:
        connection.execute(update(KEYS).where(KEYS.c.id == key_id).values(last_used_at=at))


@translate_errors
def revoke_api_key(engine: Engine, key_id: str, at: datetime, actor: str) -> bool:
    """Revoke a key and log it; return False when no live key has this id."""
    with writing(engine) as connection:
        changed = connection.execute(
            update(KEYS)
            .where(KEYS.c.id == key_id, KEYS.c.revoked_at.is_(None))
            .values(revoked_at=at)
        )
        if changed.rowcount != 1:
            return False
        append_entry(connection, "key.revoked", f"key:{key_id}", actor, {"key_id": key_id}, at)
        return True


@translate_errors
def insert_user(engine: Engine, user: User, actor: str) -> None:
    """Store a new user and log who created it; a taken username is refused."""
    try:
        with writing(engine) as connection:
            connection.execute(insert(USERS).values(**vars(user)))
            body = {"user_id": user.id, "username": user.username, "role": user.role}
            append_entry(
                connection, "user.created", f"user:{user.username}", actor, body, user.created_at
            )
    except IntegrityError as error:
        raise InvalidRecord(f"username {user.username!r} is taken") from error


@translate_errors
def user_by_username(engine: Engine, username: str) -> User | None:
    """Return the user with this username."""
    with engine.connect() as connection:
        row = connection.execute(select(USERS).where(USERS.c.username == username)).first()
    return None if row is None else from_row(User, row)


@translate_errors
def users(engine: Engine) -> list[User]:
    """Return every user by username."""
    with engine.connect() as connection:
        rows = connection.execute(select(USERS).order_by(USERS.c.username))
        return [from_row(User, row) for row in rows]


@translate_errors
def update_user(engine: Engine, username: str, actor: str, **values: Any) -> bool:
    """Change a user's password hash or disabled time and log it; False for an unknown user."""
    with writing(engine) as connection:
        changed = connection.execute(
            update(USERS).where(USERS.c.username == username).values(**values)
        )
        if changed.rowcount != 1:
            return False
        shown = {
            name: "changed" if name == "password_hash" else _shown(value)
            for name, value in sorted(values.items())
        }
        body = {"username": username, "changes": shown}
        append_entry(connection, "user.updated", f"user:{username}", actor, body)
        return True


def _shown(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else value


@translate_errors
def insert_session(
    engine: Engine, digest: str, user_id: str, csrf_token: str, at: datetime
) -> None:
    """Store a new session."""
    with writing(engine) as connection:
        connection.execute(
            insert(SESSIONS).values(
                digest=digest,
                user_id=user_id,
                csrf_token=csrf_token,
                created_at=at,
                last_seen_at=at,
            )
        )


@translate_errors
def live_session(engine: Engine, digest: str) -> SignedInSession | None:
    """Return the session with this digest unless it was ended; with its user."""
    query = (
        select(SESSIONS, *[c.label(f"account_{c.name}") for c in USERS.c])
        .join(USERS, USERS.c.id == SESSIONS.c.user_id)
        .where(SESSIONS.c.digest == digest, SESSIONS.c.ended_at.is_(None))
    )
    with engine.connect() as connection:
        row = connection.execute(query).first()
    if row is None:
        return None
    user = User(**{c.name: getattr(row, f"account_{c.name}") for c in USERS.c})
    return SignedInSession(row.digest, row.csrf_token, row.created_at, row.last_seen_at, user)


@translate_errors
def touch_session(engine: Engine, digest: str, at: datetime) -> None:
    """Record that the session was used."""
    with writing(engine) as connection:
        connection.execute(
            update(SESSIONS).where(SESSIONS.c.digest == digest).values(last_seen_at=at)
        )


@translate_errors
def end_sessions(
    engine: Engine, at: datetime, digest: str | None = None, user_id: str | None = None
) -> None:
    """End one session (by digest) or every session of a user."""
    where = SESSIONS.c.digest == digest if digest else SESSIONS.c.user_id == user_id
    with writing(engine) as connection:
        connection.execute(
            update(SESSIONS).where(where, SESSIONS.c.ended_at.is_(None)).values(ended_at=at)
        )


@translate_errors
def record_login_failure(engine: Engine, username: str, client: str | None, at: datetime) -> int:
    """Count one sign-in as failed (until it succeeds); return its id."""
    with writing(engine) as connection:
        inserted = connection.execute(
            insert(FAILURES)
            .values(username=username, client=client, at=at)
            .returning(FAILURES.c.id)
        )
        return int(inserted.scalar_one())


@translate_errors
def login_failures_since(
    engine: Engine, since: datetime, username: str | None = None, client: str | None = None
) -> tuple[int, datetime | None]:
    """Return how many sign-ins of a username (or a client) failed since `since`, and the last."""
    query = select(func.count(), func.max(FAILURES.c.at)).where(FAILURES.c.at >= since)
    if username is not None:
        query = query.where(FAILURES.c.username == username)
    if client is not None:
        query = query.where(FAILURES.c.client == client)
    with engine.connect() as connection:
        count, last = connection.execute(query).one()
    return int(count), last


@translate_errors
def forget_login_failures(
    engine: Engine,
    username: str | None = None,
    ids: tuple[int, ...] = (),
    before: datetime | None = None,
) -> None:
    """Forget a username's failures, some failures by id, or every failure older than `before`."""
    conditions = []
    if username is not None:
        conditions.append(FAILURES.c.username == username)
    if ids:
        conditions.append(FAILURES.c.id.in_(ids))
    if before is not None:
        conditions.append(FAILURES.c.at < before)
    if not conditions:
        return
    with writing(engine) as connection:
        connection.execute(delete(FAILURES).where(or_(*conditions)))


VIEWED = "personal_data.viewed"


@translate_errors
def record_personal_data_view(engine: Engine, view: PersonalDataView) -> None:
    """Log one view of unmasked personal data in the audit log."""
    body = {
        "role": view.role,
        "record_type": view.record_type,
        "attributes": view.attributes,
        "channel": view.channel,
    }
    with writing(engine) as connection:
        append_entry(connection, VIEWED, view.record_id, view.actor, body, view.at)


@translate_errors
def personal_data_views(
    engine: Engine, record_id: str | None = None, limit: int = 200
) -> list[PersonalDataView]:
    """Return the newest views of unmasked personal data, of one record or of all."""
    return [
        PersonalDataView(
            at=entry.at,
            actor=entry.actor,
            role=entry.body["role"],
            record_type=entry.body["record_type"],
            record_id=entry.subject,
            attributes=entry.body["attributes"],
            channel=entry.body["channel"],
        )
        for entry in recent_entries(engine, VIEWED, subject=record_id, limit=limit)
    ]
