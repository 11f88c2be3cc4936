"""Databases for the persistence tests: a SQLite file, and PostgreSQL when a server answers."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, text, update

from service.persistence import make_engine, migrate
from service.persistence.audit_rows import AuditHeadRow
from service.persistence.base import Base
from service.persistence.merkle import Frontier


def empty_postgres(engine: Engine) -> None:
    """Empty every table, the append-only audit log too (its trigger is off for this session)."""
    with engine.begin() as connection:
        connection.execute(text("SET LOCAL session_replication_role = replica"))
        tables = ", ".join(t for t in Base.metadata.tables if t != "audit_head")
        connection.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
        connection.execute(update(AuditHeadRow).values(size=0, frontier=Frontier().to_json()))


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> str:
    """Return the URL of an empty database of each kind."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path_factory.mktemp('db') / 'data' / 'ordershield.db'}"
    return str(request.getfixturevalue("postgres_url"))


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    """Return a migrated engine; PostgreSQL tables are emptied afterwards for the next test."""
    engine = make_engine(db_url)
    migrate(engine)
    yield engine
    if engine.dialect.name == "postgresql":
        empty_postgres(engine)
    engine.dispose()
