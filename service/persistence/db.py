"""Engines, migrations and health for the decisions database (SQLite WAL or PostgreSQL)."""

from __future__ import annotations

import functools
import sqlite3
import threading
import time
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from contextvars import ContextVar
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

import orjson
from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError, SQLAlchemyError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError

from service.persistence.chain import dump_json
from service.persistence.errors import DatabaseUnavailable, UnsupportedDatabase

MIGRATIONS = Path(__file__).with_name("migrations")
BUSY_TIMEOUT_MS = 5000
# synchronous=FULL: a decision is on disk (the WAL fsynced) before its answer leaves,
# so not even a power cut loses an acknowledged decision; it costs well under a ms.
# The service checkpoints the WAL in the background (`checkpoint`); SQLite's own
# automatic checkpoint, run inside a commit, is only a backstop (40 MB of WAL).
SQLITE_PRAGMAS = ("synchronous=FULL", "foreign_keys=ON", "wal_autocheckpoint=10000")
# Execution option read by the SQLite `begin` listener: the BEGIN mode of a transaction.
BEGIN_MODE = "ordershield_sqlite_begin"
# Key of a pooled SQLite connection's `info`: the busy timeout last set on it, in ms.
BUSY_SET = "ordershield_busy_ms"
CONNECT_TIMEOUT_S = 5
# pg_advisory_xact_lock key of migrations.
MIGRATE_LOCK = 0x4F53_0001
# A PostgreSQL transaction's statement and lock timeouts, local to it (psycopg's parameters).
BOUND_TRANSACTION = (
    "SELECT set_config('statement_timeout', %s, true), set_config('lock_timeout', %s, true)"
)

# JSON columns are written and read with orjson, several times faster than `json`.
JSON_CODEC: dict[str, Any] = {"json_serializer": dump_json, "json_deserializer": orjson.loads}
# Per engine: the in-process writer queue (used on SQLite, see `writing`) and the
# engine whose transactions begin IMMEDIATE.
_WRITERS: weakref.WeakKeyDictionary[Engine, tuple[threading.Lock, Engine]] = (
    weakref.WeakKeyDictionary()
)

# The monotonic time by which this thread's database work must be done (`within`).
_DEADLINE: ContextVar[float | None] = ContextVar("database_deadline", default=None)

P = ParamSpec("P")
R = TypeVar("R")


def make_engine(url: str) -> Engine:
    """Create the engine for a SQLite or PostgreSQL URL with OrderShield's connection settings."""
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend in ("postgresql", "postgres"):
        return _postgres_engine(parsed)
    if backend == "sqlite":
        return _sqlite_engine(parsed)
    raise UnsupportedDatabase(f"unsupported database {backend!r}: use sqlite:// or postgresql://")


def _postgres_engine(url: URL) -> Engine:
    if url.drivername in ("postgresql", "postgres"):
        url = url.set(drivername="postgresql+psycopg")
    # An unreachable host must fail fast, not hang the scoring path on a TCP timeout.
    connect_args: dict[str, object] = {}
    if "connect_timeout" not in url.query:
        connect_args["connect_timeout"] = CONNECT_TIMEOUT_S
    if "options" not in url.query:
        # A transaction without a deadline (a label, a review, a sync) waits for a row lock
        # no longer than a SQLite writer waits for the database; `within` narrows it.
        connect_args["options"] = f"-c lock_timeout={BUSY_TIMEOUT_MS}"
    return create_engine(url, pool_pre_ping=True, connect_args=connect_args, **JSON_CODEC)


def _sqlite_engine(url: URL) -> Engine:
    database = url.database or ""
    if database and database != ":memory:" and not database.startswith("file:"):
        try:
            Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise DatabaseUnavailable(f"cannot create the folder of {database}: {exc}") from exc
    engine = create_engine(url, **JSON_CODEC)
    event.listen(engine, "connect", _sqlite_connect)
    event.listen(engine, "begin", _sqlite_begin)
    return engine


def _sqlite_connect(dbapi_connection: Any, record: Any) -> None:
    # The driver's own BEGIN is always DEFERRED; we emit BEGIN ourselves so writers can
    # take the write lock up front (see `writer`) instead of failing to upgrade a read lock.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        record.info[BUSY_SET] = BUSY_TIMEOUT_MS
        _use_wal(cursor)
        for pragma in SQLITE_PRAGMAS:
            cursor.execute(f"PRAGMA {pragma}")
    finally:
        cursor.close()


def _use_wal(cursor: Any) -> None:
    # Switching a new file to WAL needs an exclusive lock and SQLite answers "locked" at
    # once, without its busy handler, when processes open the new file together.
    deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
    while True:
        try:
            if cursor.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
                cursor.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.01)


def _sqlite_begin(connection: Connection) -> None:
    mode = connection.get_execution_options().get(BEGIN_MODE, "DEFERRED")
    if mode not in ("DEFERRED", "IMMEDIATE", "EXCLUSIVE"):
        raise ValueError(f"unknown SQLite BEGIN mode {mode!r}")
    # Another process holding the write lock is waited for no longer than the deadline.
    remaining = _remaining()
    busy_ms = BUSY_TIMEOUT_MS if remaining is None else max(int(remaining * 1000), 0)
    # Straight to the driver: every transaction begins here, reads included, and
    # SQLAlchemy's statement machinery would cost more than the two statements.
    pooled = connection.connection
    raw = pooled.driver_connection
    assert raw is not None
    try:
        if pooled.info.get(BUSY_SET) != busy_ms:
            raw.execute(f"PRAGMA busy_timeout={busy_ms}")
            pooled.info[BUSY_SET] = busy_ms
        raw.execute(f"BEGIN {mode}")
    except sqlite3.Error as exc:
        # As SQLAlchemy would have raised it ("database is locked": an OperationalError).
        raise DBAPIError.instance(f"BEGIN {mode}", None, exc, sqlite3.Error) from exc


def writer(engine: Engine) -> Engine:
    """Return the engine whose transactions start with the SQLite write lock held."""
    return _writers(engine)[1]


def _writers(engine: Engine) -> tuple[threading.Lock, Engine]:
    """Return the engine's in-process writer queue and its writing engine, made once."""
    found = _WRITERS.get(engine)
    if found is None:
        writing_engine = engine.execution_options(**{BEGIN_MODE: "IMMEDIATE"})
        found = _WRITERS.setdefault(engine, (threading.Lock(), writing_engine))
    return found


@contextmanager
def within(seconds: float) -> Iterator[None]:
    """Bound the database work of this thread's next transactions to `seconds` from now.

    On the scoring path the decision's write gets what is left of the
    decision's deadline: queueing for SQLite's writer waits no longer, and on
    PostgreSQL the transaction's statements and lock waits are cut there
    (`statement_timeout`, `lock_timeout`). A write that cannot finish in time
    raises `DatabaseUnavailable`, written nothing, rather than stall the order.
    """
    with until(time.monotonic() + max(seconds, 0.0)):
        yield


@contextmanager
def until(deadline: float | None) -> Iterator[None]:
    """Bound this thread's next transactions to a `time.monotonic()` deadline (None: no bound).

    The group committer runs a shared transaction by the earliest deadline of its members.
    """
    token = _DEADLINE.set(deadline)
    try:
        yield
    finally:
        _DEADLINE.reset(token)


def current_deadline() -> float | None:
    """Return the `time.monotonic()` deadline this thread's database work has, or None."""
    return _DEADLINE.get()


def _remaining() -> float | None:
    deadline = _DEADLINE.get()
    return None if deadline is None else deadline - time.monotonic()


@contextmanager
def _queued(queue: threading.Lock) -> Iterator[None]:
    """Take the in-process writer queue, within the thread's deadline if it has one."""
    remaining = _remaining()
    if not queue.acquire(timeout=-1 if remaining is None else max(remaining, 0.0)):
        raise DatabaseUnavailable("the database's writer queue did not clear within the deadline")
    try:
        yield
    finally:
        queue.release()


@contextmanager
def writing(engine: Engine) -> Iterator[Connection]:
    """Open a write transaction; on SQLite, queue for it inside the process first.

    SQLite lets one writer in at a time, and a writer that finds the lock taken
    polls for it with growing sleeps (up to 100 ms each), which shows up as long
    tail latencies under concurrent scoring. Waiting on a Python lock instead
    hands the database over as soon as the previous writer commits.
    """
    queue, writing_engine = _writers(engine)
    with (
        _queued(queue) if _is_sqlite(engine) else nullcontext(),
        writing_engine.begin() as connection,
    ):
        remaining = _remaining()
        if remaining is not None and connection.dialect.name == "postgresql":
            # Both timeouts for this transaction only, in one round trip.
            budget = str(max(int(remaining * 1000), 1))
            connection.exec_driver_sql(BOUND_TRANSACTION, (budget, budget))
        yield connection


def _is_sqlite(engine: Engine) -> bool:
    return engine.dialect.name == "sqlite"


def lock(connection: Connection, key: int) -> None:
    """Serialize this transaction with every other one taking `key` (PostgreSQL only).

    SQLite needs nothing: a `writer` transaction already excludes all other writers.
    """
    if connection.dialect.name == "postgresql":
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})


def translate_errors(function: Callable[P, R]) -> Callable[P, R]:
    """Raise `DatabaseUnavailable` for connection failures, busy timeouts and pool exhaustion."""

    @functools.wraps(function)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return function(*args, **kwargs)
        except (OperationalError, InterfaceError, PoolTimeoutError) as exc:
            raise DatabaseUnavailable(f"database unavailable: {_first_line(exc)}") from exc

    return wrapper


def _first_line(exc: BaseException) -> str:
    if isinstance(exc, DBAPIError) and exc.orig is not None:
        exc = exc.orig
    message = str(exc).strip()
    return message.splitlines()[0] if message else type(exc).__name__


@translate_errors
def migrate(engine: Engine, revision: str = "head") -> None:
    """Upgrade the schema to `revision` (the newest); safe at every start and from many processes.

    `revision` names an older one only for tests of upgrades.
    """
    config = Config()
    # ConfigParser interpolates '%', which may appear in an install path.
    config.set_main_option("script_location", str(MIGRATIONS).replace("%", "%%"))
    if _is_sqlite(engine):
        _migrate_sqlite(engine, config, revision)
        return
    with writing(engine) as connection:
        lock(connection, MIGRATE_LOCK)
        config.attributes["connection"] = connection
        command.upgrade(config, revision)


def _migrate_sqlite(engine: Engine, config: Config, revision: str) -> None:
    """Migrate the way SQLite's manual says to change a schema: foreign keys off around it.

    Rebuilding a table that others reference (batch mode drops and recreates it)
    would otherwise count a violation per referencing row, and fail the commit.
    The keys are checked before the commit instead, and turned back on after.
    """
    queue, writing_engine = _writers(engine)
    with queue, writing_engine.connect() as connection:
        raw = connection.connection.driver_connection
        assert raw is not None
        # On the driver's connection, outside any transaction: inside one it does nothing.
        raw.execute("PRAGMA foreign_keys=OFF")
        try:
            with connection.begin():
                config.attributes["connection"] = connection
                command.upgrade(config, revision)
                broken = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
                if broken:
                    raise RuntimeError(f"the migration left rows with no parent: {broken[:5]}")
        finally:
            raw.execute("PRAGMA foreign_keys=ON")


def checkpoint(engine: Engine) -> None:
    """Copy a SQLite WAL into the database file, so that the next write starts it over.

    Run periodically from the service's background, it keeps the checkpoint's
    fsyncs out of the commits on the scoring path. A PASSIVE checkpoint blocks
    no one, but alongside a stream of writes it never copies every frame, and
    the WAL only restarts after one that did: so the bulk is copied alongside
    the writes and the last few frames with the in-process writer queue held.
    Nothing to do on PostgreSQL.
    """
    if _is_sqlite(engine):
        queue, _ = _writers(engine)
        with engine.connect() as connection:
            connection.exec_driver_sql("PRAGMA wal_checkpoint(PASSIVE)")
            with queue:
                connection.exec_driver_sql("PRAGMA wal_checkpoint(PASSIVE)")


def ping_writer(engine: Engine, seconds: float) -> bool:
    """Return whether a write transaction can begin within `seconds`; never raise.

    A read answers while another process holds SQLite's write lock, or while
    PostgreSQL is read-only; decisions could not be stored then. So readiness
    asks for what a decision needs: the writer (and nothing is written).
    """
    try:
        with within(seconds), writing(engine) as connection:
            connection.execute(text("SELECT 1"))
    except (SQLAlchemyError, OSError, DatabaseUnavailable):
        return False
    return True


def ping(engine: Engine) -> bool:
    """Return whether `SELECT 1` succeeds; never raise."""
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except (SQLAlchemyError, OSError):
        return False
    return True
