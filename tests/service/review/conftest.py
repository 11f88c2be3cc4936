"""Review tests use the persistence tests' databases (SQLite, and PostgreSQL if it answers)."""

from tests.service.persistence.conftest import db_url, engine

__all__ = ["db_url", "engine"]
