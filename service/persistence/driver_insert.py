"""INSERTs compiled once per dialect and run through the driver, for the rows every decision adds.

`connection.execute(insert(table), rows)` looks its compiled form up, sets up
a result and binds each row, on every call: for the few small rows a decision
adds to each table that costs more than the SQL itself. `DriverInsert`
compiles the statement once per dialect, binds each value with the type's
own processor (the same one SQLAlchemy would apply, so the stored values are
identical) and hands the rows to `exec_driver_sql`, which keeps SQLAlchemy's
error translation, events and transaction.

With `skip_existing` (a unique column), a row whose value there is stored
already is skipped, not an error, and `insert_new` tells which rows were new.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Dialect, Insert, Table, insert
from sqlalchemy.dialects import postgresql, sqlite

Processor = Callable[[Any], Any] | None


@dataclass(frozen=True)
class _Compiled:
    sql: str
    names: tuple[str, ...]  # bind names, in the statement's order
    processors: tuple[Processor, ...]
    positional: bool

    def bound(self, row: Mapping[str, Any]) -> Any:
        """Return a row's parameters as the driver takes them, each value bound by its type."""
        pairs = zip(self.names, self.processors, strict=True)
        if self.positional:
            return tuple(row[n] if p is None else p(row[n]) for n, p in pairs)
        return {n: row[n] if p is None else p(row[n]) for n, p in pairs}


class DriverInsert:
    """An INSERT of fixed columns of a table, run through the driver."""

    def __init__(
        self, table: Table, columns: Sequence[str], skip_existing: str | None = None
    ) -> None:
        self._table = table
        self._columns = tuple(columns)
        self._skip_existing = skip_existing
        self._compiled: dict[str, _Compiled] = {}
        self._lock = threading.Lock()

    def execute(self, connection: Connection, rows: Sequence[Mapping[str, Any]]) -> None:
        """Insert the rows (each holds every column) in the connection's transaction."""
        if self._skip_existing is not None:
            raise TypeError("an insert that skips stored rows tells which: use insert_new")
        compiled = self._for(connection.dialect)
        connection.exec_driver_sql(compiled.sql, [compiled.bound(row) for row in rows])

    def insert_new(self, connection: Connection, rows: Sequence[Mapping[str, Any]]) -> list[bool]:
        """Insert the rows one statement each, skipping stored ones; return which were new."""
        if self._skip_existing is None:
            raise TypeError("insert_new needs a skip_existing column")
        compiled = self._for(connection.dialect)
        return [
            connection.exec_driver_sql(compiled.sql, compiled.bound(row)).first() is not None
            for row in rows
        ]

    def _for(self, dialect: Dialect) -> _Compiled:
        found = self._compiled.get(dialect.name)
        if found is None:
            with self._lock:
                found = self._compiled.setdefault(dialect.name, self._compile(dialect))
        return found

    def _statement(self, dialect: Dialect) -> Insert:
        if self._skip_existing is None:
            return insert(self._table)
        unique = self._table.c[self._skip_existing]
        if dialect.name == "postgresql":
            skipping: Insert = postgresql.insert(self._table).on_conflict_do_nothing(
                index_elements=[unique]
            )
        else:
            skipping = sqlite.insert(self._table).on_conflict_do_nothing(index_elements=[unique])
        return skipping.returning(unique)

    def _compile(self, dialect: Dialect) -> _Compiled:
        compiled = self._statement(dialect).compile(
            dialect=dialect, column_keys=list(self._columns)
        )
        names = tuple(compiled.positiontup or ()) if compiled.positional else self._columns
        binds = compiled.binds
        processors = tuple(
            binds[name].type.dialect_impl(dialect).bind_processor(dialect) for name in names
        )
        return _Compiled(compiled.string, names, processors, compiled.positional)
