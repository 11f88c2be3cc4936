"""Alembic environment: run on the connection `migrate` passes, or on `ServiceSettings().db_url`."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from service.persistence.base import Base


def run(connection: Connection) -> None:
    """Run the pending migrations on one connection."""
    # Batch mode lets later revisions alter SQLite tables, which lacks most ALTER TABLE forms.
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_from_cli() -> None:
    """Migrate the configured database (used by the `alembic` command line, e.g. autogenerate)."""
    from service.persistence.db import MIGRATE_LOCK, lock, make_engine, writer
    from service.settings import ServiceSettings

    engine = make_engine(ServiceSettings().db_url)
    try:
        with writer(engine).begin() as connection:
            lock(connection, MIGRATE_LOCK)
            run(connection)
    finally:
        engine.dispose()


if context.is_offline_mode():
    raise SystemExit("offline (--sql) migrations are not supported")
if (given := context.config.attributes.get("connection")) is not None:
    run(given)
else:
    run_from_cli()
