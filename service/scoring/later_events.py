"""The outcomes a replayed stream has still ahead of it, kept on disk in time order.

A label may come months after its order: held in memory, the labels still ahead
would grow with the file. Here they are rows of a SQLite file (no journal, no
fsync: it dies with the replay), and memory holds only the earliest time among
them, so the store is asked only when the stream passes that time.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, NamedTuple

import orjson

from features.spec import Stream

SCHEMA = (
    "CREATE TABLE later (seq INTEGER PRIMARY KEY, time_ms INTEGER NOT NULL,"
    " stream TEXT NOT NULL, withdraws_ms INTEGER, event_order BLOB NOT NULL)"
)
DUE = "SELECT seq, time_ms, stream, withdraws_ms, event_order FROM later WHERE time_ms < ?"


class LaterEvent(NamedTuple):
    """One event of an order that counts at `time_ms` (a withdrawal names the label's time)."""

    time_ms: int
    stream: Stream
    withdraws_ms: int | None
    order: dict[str, Any]


class LaterEvents:
    """Events waiting for the stream to reach their time, taken in time order (ties: as added)."""

    def __init__(self, path: Path) -> None:
        self._db = sqlite3.connect(path)
        self._db.execute("PRAGMA journal_mode = OFF")
        self._db.execute("PRAGMA synchronous = OFF")
        self._db.execute(SCHEMA)
        self._db.execute("CREATE INDEX later_by_time ON later (time_ms, seq)")
        self._next_ms: int | None = None

    def add(self, order: Mapping[str, Any], events: list[tuple[int, Stream, int | None]]) -> None:
        """Keep an order's later events: (time, stream, withdrawn label's time or None)."""
        if not events:
            return
        # NaN is written as null, which the online path reads as missing, as it reads NaN.
        text = orjson.dumps(order, option=orjson.OPT_SERIALIZE_NUMPY)
        self._db.executemany(
            "INSERT INTO later (time_ms, stream, withdraws_ms, event_order) VALUES (?, ?, ?, ?)",
            [(time_ms, stream.value, withdraws, text) for time_ms, stream, withdraws in events],
        )
        first = min(time_ms for time_ms, _, _ in events)
        self._next_ms = first if self._next_ms is None else min(self._next_ms, first)

    def due(self, before_ms: int) -> Iterator[LaterEvent]:
        """Take, in time order, every event that counts before `before_ms`."""
        if self._next_ms is None or self._next_ms >= before_ms:
            return
        rows = self._db.execute(DUE + " ORDER BY time_ms, seq", (before_ms,)).fetchall()
        self._db.execute("DELETE FROM later WHERE time_ms < ?", (before_ms,))
        (self._next_ms,) = self._db.execute("SELECT MIN(time_ms) FROM later").fetchone()
        for _, time_ms, stream, withdraws_ms, text in rows:
            yield LaterEvent(time_ms, Stream(stream), withdraws_ms, orjson.loads(text))

    def close(self) -> None:
        """Close the file."""
        self._db.close()
