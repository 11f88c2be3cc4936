"""The embedded online store: every row of every view in one SQLite table.

A stored row is one feature value, keyed by project, view, entity key and
feature name, so one statement reads an order's entity states from one
snapshot and one transaction writes them all. Feast's own SQLite store keeps a
table per view and takes a call per view, and its reads and writes take turns
on one shared connection, so reads queued behind commits and behind the
checkpoints SQLite runs inside them. Here there is one writer, its
transactions queued on a Python lock rather than in SQLite's sleeping busy
handler, and a reader per thread: in WAL mode reads go on during a commit or a
checkpoint instead of queueing behind it.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Sequence
from functools import cache
from pathlib import Path
from typing import Literal

from feast.repo_config import FeastConfigBaseModel, RepoConfig
from pydantic import StrictStr

from features.online_stores.rows import (
    Cell,
    Conflict,
    Expected,
    Row,
    RowsOnlineStore,
    StoredRow,
    digest,
)

# Pages of WAL after which SQLite checkpoints on its own, inside a commit (16 MB).
# An order adds about ten and the background checkpoint starts the WAL over every
# second, so at 100 orders/s this is room for a few late checkpoints.
WAL_BACKSTOP_PAGES = 4_000
# How long a bulk caller waits for another process's write lock (sqlite3's default).
BUSY_TIMEOUT_S = 5.0
# Keys per statement of a Feast read: well under SQLite's limit of bound parameters.
READ_CHUNK = 500
SCHEMA = """CREATE TABLE IF NOT EXISTS feature_values (
    project TEXT NOT NULL,
    feature_view TEXT NOT NULL,
    entity_key TEXT NOT NULL,
    feature_name TEXT NOT NULL,
    value BLOB NOT NULL,
    event_us INTEGER NOT NULL,
    created_us INTEGER,
    PRIMARY KEY (project, feature_view, entity_key, feature_name)
) WITHOUT ROWID"""
UPSERT = "INSERT OR REPLACE INTO feature_values VALUES (?, ?, ?, ?, ?, ?, ?)"
CELL = (
    "SELECT {index}, value FROM feature_values"
    " WHERE project = ? AND feature_view = ? AND entity_key = ? AND feature_name = ?"
)
ROWS = (
    "SELECT entity_key, feature_name, value, event_us FROM feature_values"
    " WHERE project = ? AND feature_view = ? AND entity_key IN ({keys})"
)
DELETE_VIEW = "DELETE FROM feature_values WHERE project = ? AND feature_view = ?"
# A chunk of a view's rows written before a time, so no delete holds the writer for long.
EXPIRE_CHUNK = 500
EXPIRE = (
    DELETE_VIEW + " AND entity_key IN (SELECT entity_key FROM feature_values"
    " WHERE project = ? AND feature_view = ? AND event_us < ? LIMIT ?)"
)
# Adds one to an integer cell (kept as its decimal digits, as Redis's HINCRBY does).
COUNT = (
    "INSERT INTO feature_values VALUES (?, ?, ?, ?, CAST('1' AS BLOB), 0, NULL)"
    " ON CONFLICT DO UPDATE SET value = CAST(CAST(CAST(value AS TEXT) AS INTEGER) + 1 AS BLOB)"
    " RETURNING value"
)


class OrderShieldSqliteOnlineStoreConfig(FeastConfigBaseModel):
    """feature_store.yaml's `online_store` for the embedded store."""

    type: Literal["features.online_stores.sqlite.OrderShieldSqliteOnlineStore"] = (
        "features.online_stores.sqlite.OrderShieldSqliteOnlineStore"
    )
    path: StrictStr = "online.db"
    """The database file, relative to the feature repo unless absolute."""


class OrderShieldSqliteOnlineStore(RowsOnlineStore):
    """The embedded online store as Feast sees it (apply, materialize, serve)."""

    def open_rows(self, config: RepoConfig) -> SqliteDatabase:
        """Open the database file of this repo."""
        return database(config)


def database(config: RepoConfig, timeout_seconds: float | None = None) -> SqliteDatabase:
    """Open the database of a repo configured with the embedded store."""
    online = config.online_store
    if not isinstance(online, OrderShieldSqliteOnlineStoreConfig):
        raise TypeError(f"not the embedded online store: {type(online).__name__}")
    path = Path(online.path)
    if not path.is_absolute() and config.repo_path is not None:
        path = Path(config.repo_path) / path
    return SqliteDatabase(str(path), config.project, timeout_seconds)


class SqliteDatabase:
    """Rows of one project in one SQLite file: one statement per read, one transaction per write."""

    def __init__(self, path: str, project: str, timeout_seconds: float | None = None) -> None:
        self.path = path
        self.project = project
        # Another process holding SQLite's write lock is waited for this long (bulk: 5 s).
        self.timeout_seconds = BUSY_TIMEOUT_S if timeout_seconds is None else timeout_seconds
        self._writer = connect(path, self.timeout_seconds)
        self._write_lock = threading.Lock()
        self._readers = threading.local()
        self._checkpointer = connect(path, self.timeout_seconds)
        with self._write_lock, self._writer:
            self._writer.execute(SCHEMA)

    def read(self, cells: Sequence[Cell]) -> list[bytes | None]:
        """Return each cell's value from one statement, so from one snapshot."""
        return self._read(self._reader(), cells)

    def _read(self, connection: sqlite3.Connection, cells: Sequence[Cell]) -> list[bytes | None]:
        found: list[bytes | None] = [None] * len(cells)
        if not cells:
            return found
        parameters = [p for view, key, name in cells for p in (self.project, view, key, name)]
        for index, value in connection.execute(select_cells(len(cells)), parameters):
            found[index] = value
        return found

    def read_rows(
        self, view: str, keys: Sequence[str], features: Sequence[str]
    ) -> list[StoredRow | None]:
        """Return each key's row of `view`, a statement per chunk of keys."""
        wanted = set(features)
        times: dict[str, int] = {}
        values: dict[str, dict[str, bytes]] = {}
        reader = self._reader()
        for start in range(0, len(keys), READ_CHUNK):
            chunk = list(dict.fromkeys(keys[start : start + READ_CHUNK]))
            statement = ROWS.format(keys=", ".join("?" * len(chunk)))
            for key, name, value, event_us in reader.execute(
                statement, [self.project, view, *chunk]
            ):
                # Feast writes a row's features together; the latest of them dates the row.
                times[key] = max(event_us, times.get(key, event_us))
                found = values.setdefault(key, {})
                if name in wanted:
                    found[name] = value
        return [StoredRow(times[key], values[key]) if key in times else None for key in keys]

    def write(
        self, rows: Sequence[Row], count: Cell | None = None, expect: Sequence[Expected] = ()
    ) -> int | None:
        """Store every row in one transaction, so a reader sees all of them or none.

        The transaction takes SQLite's write lock first (BEGIN IMMEDIATE), so the
        expected cells cannot change between their check and the write, whichever
        process writes.
        """
        parameters = [
            (self.project, row.view, row.key, name, value, row.event_us, row.created_us)
            for row in rows
            for name, value in row.values.items()
        ]
        with self._write_lock, self._writer:
            self._writer.execute("BEGIN IMMEDIATE")
            if expect:
                cells = [cell for cell, _ in expect]
                found = self._read(self._writer, cells)
                if any(digest(v) != want for v, (_, want) in zip(found, expect, strict=True)):
                    raise Conflict("a state changed since it was read")
            self._writer.executemany(UPSERT, parameters)
            if count is None:
                return None
            (value,) = self._writer.execute(COUNT, (self.project, *count)).fetchone()
            return int(value)

    def delete_views(self, views: Sequence[str]) -> None:
        """Remove every row of these views, in one transaction."""
        with self._write_lock, self._writer:
            self._writer.executemany(DELETE_VIEW, [(self.project, view) for view in views])

    def expire(self, view: str, before_us: int) -> None:
        """Remove the rows of `view` written before `before_us`, a chunk per transaction."""
        while True:
            with self._write_lock, self._writer:
                deleted = self._writer.execute(
                    EXPIRE, (self.project, view, self.project, view, before_us, EXPIRE_CHUNK)
                ).rowcount
            if deleted < EXPIRE_CHUNK:
                return

    def checkpoint(self) -> None:
        """Copy the WAL into the database file, so that the next write starts it over.

        A PASSIVE checkpoint waits for no one and blocks no one, but the WAL only
        starts over after one that copied every frame, and orders keep writing
        while it copies: on its own it never catches up, the WAL grows to the
        automatic checkpoint's threshold and that one copies inside an order's
        commit. So the bulk is copied alongside the writes, and the few frames
        they added meanwhile with the write lock held.
        """
        self._checkpointer.execute("PRAGMA wal_checkpoint(PASSIVE)")
        with self._write_lock:
            self._checkpointer.execute("PRAGMA wal_checkpoint(PASSIVE)")

    def _reader(self) -> sqlite3.Connection:
        """Return this thread's reader, opened on its first read."""
        reader: sqlite3.Connection | None = getattr(self._readers, "connection", None)
        if reader is None:
            reader = self._readers.connection = connect(self.path, self.timeout_seconds)
        return reader


@cache
def select_cells(count: int) -> str:
    """Return the one statement that reads `count` cells, each tagged with its position."""
    return " UNION ALL ".join(CELL.format(index=index) for index in range(count))


def connect(path: str, timeout_seconds: float = 5.0) -> sqlite3.Connection:
    """Open the database in WAL mode, without fsyncs.

    The online store holds derived state, like Redis kept in memory: a crash of
    the service loses nothing (the OS has the pages), and after a crash of the
    machine itself `ordershield features materialize` rebuilds it. So no commit
    and no checkpoint waits for the disk, which measured as the embedded store's
    latency tail.
    """
    connection = sqlite3.connect(path, timeout=timeout_seconds, check_same_thread=False)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA synchronous=OFF")
    # The service checkpoints in the background (`checkpoint`); the automatic one is
    # only a backstop for processes that do not.
    connection.execute(f"PRAGMA wal_autocheckpoint={WAL_BACKSTOP_PAGES}")
    return connection
