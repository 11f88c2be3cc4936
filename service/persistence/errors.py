"""Domain errors of the persistence layer; `service/` maps them to HTTP answers."""

from __future__ import annotations


class PersistenceError(Exception):
    """Base of every error the persistence layer raises on purpose."""


class DatabaseUnavailable(PersistenceError, RuntimeError):
    """The database cannot be reached, or stayed busy past the timeout."""


class UnsupportedDatabase(PersistenceError, ValueError):
    """The URL names a database other than SQLite or PostgreSQL."""


class InvalidRecord(PersistenceError, ValueError):
    """A value cannot be stored faithfully (naive time, NaN score, non-JSON payload, bad enum)."""


class NotFound(PersistenceError, LookupError):
    """The row asked for does not exist."""


class CaseClosed(PersistenceError):
    """The review case was already approved or rejected."""


class CaseClaimed(PersistenceError):
    """The review case is claimed by another reviewer, or is not the caller's to act on."""


class InvalidTransition(PersistenceError):
    """A case or stock hold cannot go from its current state to the one asked for."""


class ConflictingRequest(PersistenceError):
    """A request repeats the identity of a stored one (order id, event id) with another body.

    `kind` names what is stored ("decision", "label", "payment") and `record_id` its id.
    """

    def __init__(self, message: str, kind: str, record_id: str | int) -> None:
        super().__init__(message)
        self.kind = kind
        self.record_id = record_id
