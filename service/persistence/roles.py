"""The service's own PostgreSQL role: every right it needs, and none to rewrite the audit log."""

from __future__ import annotations

import re

from sqlalchemy import Engine, text

from service.persistence.base import Base
from service.persistence.db import translate_errors, writing
from service.persistence.errors import InvalidRecord

ROLE_NAME = re.compile(r"[a-z_][a-z0-9_]{0,62}")
APPEND_ONLY = ("audit_log",)


@translate_errors
def create_service_role(engine: Engine, name: str, password: str | None) -> None:
    """Create the role if missing and grant it the service's rights.

    Every table: SELECT, INSERT, UPDATE, DELETE; the audit log: SELECT and
    INSERT only, so even a stolen service password cannot edit history (the
    log's trigger refuses it for every role besides).
    """
    if engine.dialect.name != "postgresql":
        raise InvalidRecord("a service role is a PostgreSQL feature; SQLite has no roles")
    if not ROLE_NAME.fullmatch(name):
        raise InvalidRecord("a role name is lowercase letters, digits and _, not starting a digit")
    with writing(engine) as connection:
        exists = connection.execute(
            text("SELECT 1 FROM pg_roles WHERE rolname = :name"), {"name": name}
        ).first()
        if exists is None:
            connection.execute(text(f"CREATE ROLE {name} LOGIN"))
        if password is not None:
            # Role passwords cannot be bound parameters; quote it as a literal.
            literal = connection.execute(text("SELECT quote_literal(:p)"), {"p": password})
            connection.execute(text(f"ALTER ROLE {name} PASSWORD {literal.scalar_one()}"))
        tables = [t for t in Base.metadata.tables if t not in APPEND_ONLY]
        connection.execute(
            text(f"GRANT SELECT, INSERT, UPDATE, DELETE ON {', '.join(tables)} TO {name}")
        )
        connection.execute(text(f"GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO {name}"))
        for table in APPEND_ONLY:
            connection.execute(text(f"REVOKE ALL ON {table} FROM {name}"))
            connection.execute(text(f"GRANT SELECT, INSERT ON {table} TO {name}"))
        connection.execute(text("GRANT SELECT ON alembic_version TO " + name))
