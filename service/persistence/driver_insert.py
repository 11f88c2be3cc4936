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
It inserts many rows per statement (`INSERT … VALUES (…), (…) ON CONFLICT DO
NOTHING RETURNING`), so a batch of decisions costs a few round trips to
PostgreSQL, not one per decision. Statements hold a power of two of rows, up
to `ROWS_PER_STATEMENT`: a handful of them are compiled (`compile_all`, at
the warm-up) whatever the batch's size, and a batch of n rows takes
n // 32 + (the 1-bits of n % 32) statements (a batch of 31: five; of 64: two).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import Connection, Dialect, Insert, Table, insert
from sqlalchemy.dialects import postgresql, sqlite

Processor = Callable[[Any], Any] | None
# The most rows `insert_new` puts in one statement.
ROWS_PER_STATEMENT = 32


@dataclass(frozen=True)
class _Slot:
    """Where a bind parameter's value comes from: a row of the statement, and a column."""

    row: int
    column: str


@dataclass(frozen=True)
class _Compiled:
    sql: str
    slots: tuple[_Slot, ...]  # what each bind takes, in the statement's order
    names: tuple[str, ...]  # the binds' names, in the same order
    processors: tuple[Processor, ...]
    positional: bool

    def bound(self, rows: Sequence[Mapping[str, Any]]) -> Any:
        """Return the rows' parameters as the driver takes them, each value bound by its type."""
        values = (
            rows[slot.row][slot.column] if bind is None else bind(rows[slot.row][slot.column])
            for slot, bind in zip(self.slots, self.processors, strict=True)
        )
        if self.positional:
            return tuple(values)
        return dict(zip(self.names, values, strict=True))


class DriverInsert:
    """An INSERT of fixed columns of a table, run through the driver."""

    def __init__(
        self, table: Table, columns: Sequence[str], skip_existing: str | None = None
    ) -> None:
        self._table = table
        self._columns = tuple(columns)
        self._skip_existing = skip_existing
        self._compiled: dict[tuple[str, int], _Compiled] = {}
        self._lock = threading.Lock()

    def execute(self, connection: Connection, rows: Sequence[Mapping[str, Any]]) -> None:
        """Insert the rows (each holds every column) in the connection's transaction."""
        if self._skip_existing is not None:
            raise TypeError("an insert that skips stored rows tells which: use insert_new")
        compiled = self._for(connection.dialect, 1)
        connection.exec_driver_sql(compiled.sql, [compiled.bound((row,)) for row in rows])

    def insert_new(self, connection: Connection, rows: Sequence[Mapping[str, Any]]) -> list[bool]:
        """Insert the rows, skipping stored ones; return which were new.

        Of rows sharing a unique value only the first is sent (which of them a
        database would keep from one statement is not specified anywhere), and
        it is new if the statement returned its value.
        """
        unique = self._skip_existing
        if unique is None:
            raise TypeError("insert_new needs a skip_existing column")
        first: dict[Any, int] = {}
        for index, row in enumerate(rows):
            first.setdefault(row[unique], index)
        sent = [rows[index] for index in first.values()]
        inserted: set[Any] = set()
        start = 0
        for size in statement_sizes(len(sent)):
            compiled = self._for(connection.dialect, size)
            result = connection.exec_driver_sql(
                compiled.sql, compiled.bound(sent[start : start + size])
            )
            inserted.update(result.scalars())
            start += size
        return [first[row[unique]] == n and row[unique] in inserted for n, row in enumerate(rows)]

    def compile_all(self, dialect: Dialect) -> None:
        """Compile every statement this insert can run on `dialect` (a warm-up)."""
        sizes = [1]
        if self._skip_existing is not None:
            sizes = [1 << n for n in range(ROWS_PER_STATEMENT.bit_length())]
        for size in sizes:
            self._for(dialect, size)

    def _for(self, dialect: Dialect, rows: int) -> _Compiled:
        found = self._compiled.get((dialect.name, rows))
        if found is None:
            with self._lock:
                found = self._compiled.setdefault(
                    (dialect.name, rows), self._compile(dialect, rows)
                )
        return found

    def _statement(self, dialect: Dialect, slots: list[dict[str, _Slot]]) -> Insert:
        if self._skip_existing is None:
            return insert(self._table).values(slots)
        unique = self._table.c[self._skip_existing]
        if dialect.name == "postgresql":
            skipping: Insert = (
                postgresql.insert(self._table)
                .values(slots)
                .on_conflict_do_nothing(index_elements=[unique])
            )
        else:
            skipping = (
                sqlite.insert(self._table)
                .values(slots)
                .on_conflict_do_nothing(index_elements=[unique])
            )
        return skipping.returning(unique)

    def _compile(self, dialect: Dialect, rows: int) -> _Compiled:
        """Compile the statement of `rows` rows; each bind's value names the slot it takes."""
        slots = [{c: _Slot(row, c) for c in self._columns} for row in range(rows)]
        compiled = self._statement(dialect, slots).compile(dialect=dialect)
        names = tuple(compiled.positiontup or ()) if compiled.positional else tuple(compiled.binds)
        binds = [compiled.binds[name] for name in names]
        taken = tuple(bind.value for bind in binds)
        if not all(isinstance(slot, _Slot) for slot in taken):
            raise TypeError(f"{self._table.name}: a bind takes no row's value")
        return _Compiled(
            compiled.string,
            cast(tuple[_Slot, ...], taken),
            names,
            tuple(bind.type.dialect_impl(dialect).bind_processor(dialect) for bind in binds),
            compiled.positional,
        )


def statement_sizes(count: int) -> Iterator[int]:
    """Split `count` rows into statements of a power of two rows, at most `ROWS_PER_STATEMENT`."""
    while count:
        size = min(ROWS_PER_STATEMENT, 1 << (count.bit_length() - 1))
        yield size
        count -= size
