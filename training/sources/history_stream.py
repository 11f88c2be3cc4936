"""Read a user's order history chunk by chunk, in the file's time order (`score-batch`).

The same mapping and the same checks as `load_history`, a chunk at a time, so a
file larger than memory can be read: errors name the file's row. Two things
need the whole file and are checked across chunks: the rows must come in time
order (a stream is replayed as it happened), and an order id may appear once
(the ids seen are kept on disk, in a SQLite file in `folder`, not in memory).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from features.catalog import current
from features.schema import conform
from training.sources.history import CSV_OPTIONS, file_kind, parse_orders
from training.sources.mapping import HistoryImportError, Mapping, load_mapping

# Order ids looked up in one statement: well under SQLite's limit of bound parameters.
_LOOKUP = 500


@dataclass(frozen=True)
class _Last:
    """The latest order read so far: its time and its row in the file."""

    created_at: pd.Timestamp
    row: int


class HistoryStream:
    """A history file read in chunks of canonical orders, in the file's order.

    Opening it reads the mapping and the file's header, so a wrong path, mapping or
    column is reported before any heavy work; iterating reads and checks the rows.
    """

    def __init__(self, data_path: Path, mapping_path: Path, rows: int, folder: Path) -> None:
        self.path = Path(data_path)
        self.mapping: Mapping = load_mapping(Path(mapping_path))
        self._kind = file_kind(self.path, self.mapping.columns)
        self._rows = rows
        self._folder = folder

    @property
    def labelled(self) -> bool:
        """Return whether the file has a label column."""
        return "label" in self.mapping.columns

    def __iter__(self) -> Iterator[pd.DataFrame]:
        """Yield the file's orders as conformed canonical chunks, each in the file's order."""
        last: _Last | None = None
        first_row = 0
        with closing(_SeenIds(self._folder / "order_ids.db")) as seen:
            for raw in self._raw_chunks():
                if raw.empty:
                    continue
                frame = parse_orders(raw.reset_index(drop=True), self.mapping, first_row)
                last = self._check_order(frame, first_row, last)
                seen.add(frame["order_id"], first_row, self.mapping.columns["order_id"])
                yield _in_file_order(frame)
                first_row += len(raw)

    def _raw_chunks(self) -> Iterator[pd.DataFrame]:
        wanted = sorted(set(self.mapping.columns.values()))
        try:
            if self._kind == "parquet":
                for batch in pq.ParquetFile(self.path).iter_batches(self._rows, columns=wanted):
                    yield batch.to_pandas()
                return
            yield from pd.read_csv(self.path, usecols=wanted, chunksize=self._rows, **CSV_OPTIONS)
        except (OSError, ValueError, pa.ArrowException) as error:
            raise HistoryImportError(f"cannot read {self.path.name}: {error}") from None

    def _check_order(self, frame: pd.DataFrame, first_row: int, last: _Last | None) -> _Last:
        """Refuse a row earlier than the one before it; return the chunk's last order."""
        created = pd.DatetimeIndex(frame["created_at"])
        earlier = np.flatnonzero(created[1:] < created[:-1]) + 1
        before = None
        if last is not None and created[0] < last.created_at:
            before = (0, last)
        elif earlier.size:
            row = int(earlier[0])
            before = (row, _Last(frame["created_at"].iloc[row - 1], first_row + row))
        if before is not None:
            row, previous = before
            column = self.mapping.columns["created_at"]
            raise HistoryImportError(
                f"column {column!r} (mapped to created_at), row {first_row + row + 1}: "
                f"{_shown(frame['created_at'].iloc[row])} is before row {previous.row}'s "
                f"{_shown(previous.created_at)}: score-batch replays the file as it happened, "
                "so its rows must be in time order (sort it by created_at)"
            )
        return _Last(frame["created_at"].iloc[-1], first_row + len(frame))


def _in_file_order(frame: pd.DataFrame) -> pd.DataFrame:
    """Return the chunk conformed, its rows kept in the file's order (ties too)."""
    canonical = conform(frame, current().extra_columns)
    place = pd.Series(np.arange(len(frame)), index=frame["order_id"].to_numpy())
    order = np.argsort(place[canonical["order_id"].to_numpy()].to_numpy(), kind="stable")
    return canonical.iloc[order].reset_index(drop=True)


def _shown(moment: pd.Timestamp) -> str:
    return f"{moment:%Y-%m-%d %H:%M:%S} UTC"


class _SeenIds:
    """The order ids read so far and their rows, in a SQLite file rather than in memory."""

    def __init__(self, path: Path) -> None:
        self._db = sqlite3.connect(path)
        self._db.execute("PRAGMA journal_mode = OFF")
        self._db.execute("PRAGMA synchronous = OFF")
        self._db.execute("CREATE TABLE IF NOT EXISTS seen (id TEXT PRIMARY KEY, row INTEGER)")

    def add(self, ids: pd.Series, first_row: int, column: str) -> None:
        """Record a chunk's ids (unique within it); refuse one an earlier chunk had."""
        values = ids.astype(str).tolist()
        for start in range(0, len(values), _LOOKUP):
            part = values[start : start + _LOOKUP]
            marks = ",".join("?" * len(part))
            found = self._db.execute(
                f"SELECT id, row FROM seen WHERE id IN ({marks})", part
            ).fetchall()
            if found:
                earlier = dict(found)
                row = next(i for i, value in enumerate(values) if value in earlier)
                raise HistoryImportError(
                    f"column {column!r} (mapped to order_id), row {first_row + row + 1}: "
                    f"order id {values[row]!r} already appears in row {earlier[values[row]]}"
                )
        self._db.executemany(
            "INSERT INTO seen VALUES (?, ?)",
            ((value, first_row + i + 1) for i, value in enumerate(values)),
        )
        self._db.commit()

    def close(self) -> None:
        """Close the file (the caller's folder goes with it)."""
        self._db.close()
