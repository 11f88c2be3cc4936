"""Shared fixtures: real services started on free loopback ports."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

from service.cli.local_redis import RedisServer

ADMIN_URL = os.environ.get(
    "ORDERSHIELD_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Start a throwaway redis-server for the session and return its URL."""
    server = RedisServer(tmp_path_factory.mktemp("redis"))
    try:
        server.start()
    except RuntimeError as error:
        pytest.fail(str(error))
    yield server.url
    server.stop()


@pytest.fixture()
def own_redis(tmp_path: Path) -> Iterator[RedisServer]:
    """Start a redis-server for one test, which the test may kill, pause or restart."""
    server = RedisServer(tmp_path)
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def trained(tmp_path_factory: pytest.TempPathFactory) -> object:
    """Train the session's small model once (see tests/trained.py)."""
    from tests.trained import train_on_history

    return train_on_history(tmp_path_factory.mktemp("trained"))


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
