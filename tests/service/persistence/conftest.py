"""Databases for the persistence tests: a SQLite file, and PostgreSQL when a server answers."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, text

from service.persistence import make_engine, migrate
from service.persistence.tables import Base


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
        with engine.begin() as connection:
            tables = ", ".join(Base.metadata.tables)
            connection.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    engine.dispose()
