"""Databases for the persistence tests: a SQLite file, and PostgreSQL when a server answers."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

from service.persistence import make_engine, migrate

ADMIN_URL = os.environ.get(
    "ORDERSHIELD_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
TABLES = "decisions, review_cases, labels, payment_outcomes, feature_updates"


@pytest.fixture(scope="module")
def postgres_url() -> Iterator[str]:
    """Create a throwaway PostgreSQL database for the test module and return its URL."""
    url = make_url(ADMIN_URL)
    if url.drivername == "postgresql":
        url = url.set(drivername="postgresql+psycopg")
    admin = create_engine(url, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 3})
    try:
        with admin.connect() as connection:
            connection.execute(text("SELECT 1"))
    except OperationalError as exc:
        admin.dispose()
        shown = url.render_as_string(hide_password=True)
        pytest.skip(
            f"no PostgreSQL server at {shown} (set ORDERSHIELD_TEST_POSTGRES_URL): {exc.orig}"
        )
    name = f"os_test_{secrets.token_hex(6)}"
    with admin.connect() as connection:
        connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
    try:
        yield url.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


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
            connection.execute(text(f"TRUNCATE {TABLES} RESTART IDENTITY CASCADE"))
    engine.dispose()
