"""INSERTs compiled once per dialect and run through the driver, for the rows every decision adds.

`connection.execute(insert(table), rows)` looks its compiled form up, sets up
a result and binds each row, on every call: for the few small rows a decision
adds to each table that costs more than the SQL itself. `DriverInsert`
compiles the statement once per dialect, binds each value with the type's
own processor (the same one SQLAlchemy would apply, so the stored values are
identical) and hands the rows to `exec_driver_sql`, which keeps SQLAlchemy's
error translation, events and transaction.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Dialect, Table, insert

Processor = Callable[[Any], Any] | None


@dataclass(frozen=True)
class _Compiled:
    sql: str
    names: tuple[str, ...]  # bind names, in the statement's order
    processors: tuple[Processor, ...]
    positional: bool


class DriverInsert:
    """An INSERT of fixed columns of a table, run through the driver."""

    def __init__(self, table: Table, columns: Sequence[str]) -> None:
        self._table = table
        self._columns = tuple(columns)
        self._compiled: dict[str, _Compiled] = {}
        self._lock = threading.Lock()

    def execute(self, connection: Connection, rows: Sequence[Mapping[str, Any]]) -> None:
        """Insert the rows (each holds every column) in the connection's transaction."""
        compiled = self._for(connection.dialect)
        pairs = tuple(zip(compiled.names, compiled.processors, strict=True))
        if compiled.positional:
            params: list[Any] = [
                tuple(row[n] if p is None else p(row[n]) for n, p in pairs) for row in rows
            ]
        else:
            params = [{n: row[n] if p is None else p(row[n]) for n, p in pairs} for row in rows]
        connection.exec_driver_sql(compiled.sql, params)

    def _for(self, dialect: Dialect) -> _Compiled:
        found = self._compiled.get(dialect.name)
        if found is None:
            with self._lock:
                found = self._compiled.setdefault(dialect.name, self._compile(dialect))
        return found

    def _compile(self, dialect: Dialect) -> _Compiled:
        compiled = insert(self._table).compile(dialect=dialect, column_keys=list(self._columns))
        names = tuple(compiled.positiontup or ()) if compiled.positional else self._columns
        binds = compiled.binds
        processors = tuple(
            binds[name].type.dialect_impl(dialect).bind_processor(dialect) for name in names
        )
        return _Compiled(compiled.string, names, processors, compiled.positional)
