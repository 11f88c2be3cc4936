"""Engines, migrations and health checks."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine, inspect, text

from service.persistence import (
    DatabaseUnavailable,
    UnsupportedDatabase,
    checkpoint,
    decision_by_order,
    make_engine,
    migrate,
    ping,
    save_decision,
)
from service.persistence.base import Base
from tests.service.persistence.samples import sample_decision

UNREACHABLE = "postgresql://postgres@127.0.0.1:1/nothing"


def test_sqlite_sets_its_pragmas_on_every_connection_and_creates_the_folder(
    tmp_path: Path,
) -> None:
    path = tmp_path / "deep" / "er" / "ordershield.db"
    engine = make_engine(f"sqlite:///{path}")
    assert path.parent.is_dir()
    connections = [engine.connect() for _ in range(2)]
    try:
        for connection in connections:
            pragmas = {
                name: connection.exec_driver_sql(f"PRAGMA {name}").scalar()
                for name in ("journal_mode", "synchronous", "foreign_keys", "busy_timeout")
            }
            assert pragmas == {
                "journal_mode": "wal",
                "synchronous": 2,
                "foreign_keys": 1,
                "busy_timeout": 5000,
            }
    finally:
        for connection in connections:
            connection.close()
        engine.dispose()


@pytest.mark.parametrize("scheme", ["postgresql", "postgres", "postgresql+psycopg"])
def test_postgres_urls_use_psycopg_with_pre_ping(scheme: str) -> None:
    engine = make_engine(f"{scheme}://user@db.example/ordershield")
    assert engine.url.drivername == "postgresql+psycopg"
    assert engine.pool._pre_ping


def test_other_databases_are_refused() -> None:
    with pytest.raises(UnsupportedDatabase, match="mysql"):
        make_engine("mysql://user@db.example/ordershield")


def test_migrating_again_is_harmless(engine: Engine) -> None:
    migrate(engine)
    migrate(engine)
    with engine.connect() as connection:
        assert connection.execute(text("SELECT version_num FROM alembic_version")).all() == [
            ("0007",)
        ]
    tables = set(inspect(engine).get_table_names())
    assert {"decisions", "review_cases", "labels", "payment_outcomes", "feature_updates"} <= tables
    assert {"api_keys", "users", "sessions", "login_failures", "personal_values"} <= tables
    assert {"audit_log", "audit_pending", "audit_head", "audit_checkpoints"} <= tables


def test_the_models_match_the_migrations(engine: Engine) -> None:
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        assert compare_metadata(context, Base.metadata) == []


def test_ping_answers_on_a_live_database(engine: Engine) -> None:
    assert ping(engine)


def test_an_unreachable_postgres_fails_fast_with_a_domain_error() -> None:
    engine = make_engine(UNREACHABLE)
    started = time.monotonic()
    assert ping(engine) is False
    with pytest.raises(DatabaseUnavailable, match="database unavailable"):
        decision_by_order(engine, "ord-1")
    with pytest.raises(DatabaseUnavailable):
        migrate(engine)
    assert time.monotonic() - started < 10


def test_an_unopenable_sqlite_file_is_unavailable(tmp_path: Path) -> None:
    # A folder where the database file should be: SQLite cannot open it.
    (tmp_path / "ordershield.db").mkdir()
    engine = make_engine(f"sqlite:///{tmp_path / 'ordershield.db'}")
    assert ping(engine) is False
    with pytest.raises(DatabaseUnavailable, match="unable to open"):
        migrate(engine)


def frames_after(tmp_path: Path, name: str, checkpoint_between: bool) -> int:
    """Return the WAL's frames after 30 writes, a checkpoint (or not) and one more write."""
    engine = make_engine(f"sqlite:///{tmp_path / name}")
    migrate(engine)
    for number in range(30):
        save_decision(engine, sample_decision(f"wal-{number}"), open_case=False)
    if checkpoint_between:
        checkpoint(engine)
    save_decision(engine, sample_decision("wal-next"), open_case=False)
    with engine.connect() as connection:
        frames = connection.exec_driver_sql("PRAGMA wal_checkpoint(PASSIVE)").one()[1]
    engine.dispose()
    return int(frames)


def test_after_a_checkpoint_the_next_write_starts_the_wal_over(tmp_path: Path) -> None:
    restarted = frames_after(tmp_path, "checkpointed.db", checkpoint_between=True)
    grown = frames_after(tmp_path, "plain.db", checkpoint_between=False)
    assert restarted < grown / 10, (restarted, grown)
