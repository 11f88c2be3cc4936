"""The largest stored row per view of the online store: what one entity's state costs.

A row is one entity's values in one feature view. Redis keeps one hash per
row, named `<project>:<view>:<entity key>`: its size is the bytes of its field
values (HSTRLEN), and MEMORY USAGE adds what Redis spends around them. SQLite
is read through a read-only connection: where the table has a row per feature
value (view, entity key, feature name, value) the values of an entity's view
are summed, any other table counts each of its rows, named after the table.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import redis
import yaml
from live_stream import OWNER_KEY

from service.settings import ServiceSettings

SCAN_BATCH = 1_000


@dataclass(frozen=True)
class Largest:
    """The largest row of one view, and how many rows the view has."""

    view: str
    key: str
    rows: int
    value_bytes: int
    largest_value_bytes: int
    memory_bytes: int | None = None


def largest_rows(settings: ServiceSettings) -> list[Largest]:
    """Return the largest row of every view in the online store, largest first."""
    if settings.online_store == "redis":
        found = redis_largest(settings.redis_url.get_secret_value())
    else:
        found = sqlite_largest(sqlite_path(settings))
    return sorted(found, key=lambda row: row.value_bytes, reverse=True)


def redis_largest(url: str) -> list[Largest]:
    """Scan the Redis DB of `url` and return the largest row of each view."""
    client: redis.Redis[bytes] = redis.Redis.from_url(url)
    best: dict[str, Largest] = {}
    counts: dict[str, int] = {}
    for names in _batches(k for k in client.scan_iter(count=SCAN_BATCH) if k != OWNER_KEY.encode()):
        found = zip(names, _value_sizes(client, names), _memory(client, names), strict=True)
        for name, sizes, memory in found:
            view, key = _view_and_key(name.decode(errors="replace"))
            counts[view] = counts.get(view, 0) + 1
            if view not in best or sum(sizes) > best[view].value_bytes:
                best[view] = Largest(view, key, 0, sum(sizes), max(sizes, default=0), memory)
    return [_counted(row, counts[row.view]) for row in best.values()]


def _batches(names: Iterable[bytes]) -> Iterator[list[bytes]]:
    batch: list[bytes] = []
    for name in names:
        batch.append(name)
        if len(batch) == SCAN_BATCH:
            yield batch
            batch = []
    if batch:
        yield batch


def _value_sizes(client: redis.Redis[bytes], names: list[bytes]) -> list[list[int]]:
    """Return the byte length of each stored value of each key (hash fields, or a string)."""
    with client.pipeline(transaction=False) as pipe:
        for name in names:
            pipe.type(name)
        kinds: list[bytes] = pipe.execute()
    hashes = [n for n, kind in zip(names, kinds, strict=True) if kind == b"hash"]
    strings = [n for n, kind in zip(names, kinds, strict=True) if kind == b"string"]
    with client.pipeline(transaction=False) as pipe:
        for name in hashes:
            pipe.hkeys(name)
        fields: list[list[bytes]] = pipe.execute()
    with client.pipeline(transaction=False) as pipe:
        for name, names_of_fields in zip(hashes, fields, strict=True):
            for field in names_of_fields:
                pipe.hstrlen(name, field)  # type: ignore[no-untyped-call]
        for name in strings:
            pipe.strlen(name)
        lengths = iter(pipe.execute())
    sizes = {name: [next(lengths) for _ in f] for name, f in zip(hashes, fields, strict=True)}
    sizes |= {name: [next(lengths)] for name in strings}
    # Other kinds (lists, sets) are not rows of a view: their memory still counts.
    return [sizes.get(name, []) for name in names]


def _memory(client: redis.Redis[bytes], names: list[bytes]) -> list[int | None]:
    with client.pipeline(transaction=False) as pipe:
        for name in names:
            pipe.memory_usage(name, samples=0)  # 0: every element, not a sample
        return list(pipe.execute())


def _view_and_key(name: str) -> tuple[str, str]:
    """Split `<project>:<view>:<key>` (the key may hold colons itself, as IPv6 prefixes do)."""
    parts = name.split(":", 2)
    return (parts[1], parts[2]) if len(parts) == 3 else ("(other keys)", name)


def _counted(row: Largest, rows: int) -> Largest:
    return Largest(
        row.view, row.key, rows, row.value_bytes, row.largest_value_bytes, row.memory_bytes
    )


def sqlite_path(settings: ServiceSettings) -> Path:
    """Return the online store's SQLite file as the Feast repo's configuration names it."""
    config = yaml.safe_load((settings.feature_repo / "feature_store.yaml").read_text())
    path = Path(config["online_store"]["path"])
    return path if path.is_absolute() else settings.feature_repo / path


def sqlite_largest(path: Path) -> list[Largest]:
    """Read the SQLite file without writing to it; return the largest row of each view."""
    connection = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    try:
        tables = [
            t for (t,) in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        ]
        found: list[Largest] = []
        for table in tables:
            found += _table_largest(connection, table)
        return found
    finally:
        connection.close()


def _table_largest(connection: sqlite3.Connection, table: str) -> list[Largest]:
    quoted = '"' + table.replace('"', '""') + '"'
    columns = [row[1] for row in connection.execute(f"PRAGMA table_info({quoted})")]
    if not columns:
        return []
    if {"feature_view", "entity_key", "value"} <= set(columns):
        query = (
            "SELECT feature_view, entity_key, SUM(LENGTH(CAST(value AS BLOB))),"
            f" MAX(LENGTH(CAST(value AS BLOB))) FROM {quoted} GROUP BY feature_view, entity_key"
        )
    else:
        sizes = [f'COALESCE(LENGTH(CAST("{c}" AS BLOB)), 0)' for c in columns]
        query = (
            f'SELECT ?, "{columns[0]}", {" + ".join(sizes)}, MAX({", ".join(sizes)}, 0)'
            f" FROM {quoted}"
        )
    best: dict[str, Largest] = {}
    counts: dict[str, int] = {}
    parameters = () if "GROUP BY" in query else (table,)
    for view, key, size, largest in connection.execute(query, parameters):
        counts[view] = counts.get(view, 0) + 1
        if view not in best or size > best[view].value_bytes:
            best[view] = Largest(view, str(key), 0, int(size), int(largest or 0))
    return [_counted(row, counts[row.view]) for row in best.values()]
