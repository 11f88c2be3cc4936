"""Where entity states live: Feast's online store, behind one small interface.

`OnlineFeatures` reads all of an order's entity states at once and writes them
back at once. One implementation per online store, each on the rows Feast
materializes and serves, in Feast's own layout (`get_online_features` reads
what they write, and they read what `feast materialize` wrote; both are
tested). Feast's stores take one call per feature view, five per read and five
per write, which dominated the scoring time:

- `SqliteStates` reads the five states with one statement and writes them in
  one transaction, in the tables of Feast's SQLite store (one per view, a row
  per entity key and feature). Through Feast every view was a commit of its
  own, and reads and writes took turns on its one shared connection, so reads
  queued behind commits and behind the checkpoints SQLite runs inside them.
- `RedisStates` reads the five states in one Redis round trip and writes them
  in one MULTI/EXEC, in the layout Feast's Redis store uses (hash per entity
  key, field per view and feature, `_ts:<view>` beside it).

Both write all of an order or none. Writes go through the online store rather
than `FeatureStore.push`: push runs its batch-source checks and DataFrame
conversions on every call (about 25 ms here), and this write sits on the
order's critical path.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any, Protocol

from feast import FeatureStore, FeatureView
from feast.infra.key_encoding_utils import serialize_entity_key
from feast.infra.online_stores.helpers import _mmh3, _redis_key
from feast.infra.online_stores.sqlite import _quote_id, _table_id
from feast.protos.feast.types.EntityKey_pb2 import EntityKey as EntityKeyProto
from feast.protos.feast.types.Value_pb2 import Value as ValueProto
from feast.utils import to_naive_utc
from google.protobuf.timestamp_pb2 import Timestamp

from features.repo import STATE_FIELD, state_view_name
from features.spec import ENTITIES, Entity
from features.state import EntityState, dumps, loads

# Pages of WAL after which SQLite checkpoints on its own, inside a commit (16 MB).
# An order adds about ten and the background checkpoint starts the WAL over every
# second, so at 100 orders/s this is room for a few late checkpoints.
WAL_BACKSTOP_PAGES = 4_000
# Feast's SQLite upsert of one feature row, without the columns this store leaves empty.
UPSERT = (
    "INSERT INTO {table} (entity_key, feature_name, value, value_text, event_ts, created_ts)"
    " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(entity_key, feature_name) DO UPDATE SET"
    " value = excluded.value, value_text = excluded.value_text,"
    " event_ts = excluded.event_ts, created_ts = excluded.created_ts"
)


class OnlineStoreUnavailable(RuntimeError):
    """Raised when the online store cannot be read or written."""


class StateStore(Protocol):
    """Reads and writes the states of several entities at once."""

    def read(self, keys: Mapping[Entity, str]) -> dict[Entity, EntityState]:
        """Return each entity's state (an unseen entity has an empty one)."""
        ...

    def write(self, keys: Mapping[Entity, str], states: Mapping[Entity, EntityState]) -> None:
        """Store each entity's state."""
        ...

    def checkpoint(self) -> None:
        """Do the store's periodic upkeep away from the scoring path (if it has any)."""
        ...


def state_store(store: FeatureStore) -> StateStore:
    """Return the state store for this Feast store's online store."""
    views = {e: store.get_feature_view(state_view_name(e)) for e in ENTITIES}
    kind = store.config.online_store.type
    if kind == "sqlite":
        return SqliteStates(store, views)
    if kind == "redis":
        return RedisStates(store, views)
    raise ValueError(f"no state store for the {kind!r} online store")


def entity_key(entity: Entity, key: str) -> EntityKeyProto:
    """Return Feast's key of one entity."""
    return EntityKeyProto(join_keys=[entity.key], entity_values=[ValueProto(string_val=key)])


class SqliteStates:
    """States in Feast's SQLite tables: one statement per read, one transaction per write."""

    def __init__(self, store: FeatureStore, views: Mapping[Entity, FeatureView]) -> None:
        config = store.config
        online_store: Any = store._get_provider().online_store
        path = online_store._get_db_path(config)
        versioning = config.registry.enable_online_feature_view_versioning
        tables = {e: _quote_id(_table_id(config.project, v, versioning)) for e, v in views.items()}
        self._key_version = config.entity_key_serialization_version
        self._tables = tables
        self._upserts = {e: UPSERT.format(table=table) for e, table in tables.items()}
        self._selects: dict[tuple[Entity, ...], str] = {}
        self._path = path
        # One writer, its transactions queued on a Python lock rather than in
        # SQLite's sleeping busy handler, and a reader per thread: in WAL mode
        # reads go on during a commit or a checkpoint instead of queueing behind it.
        self._writer = _connect(path)
        self._write_lock = threading.Lock()
        self._readers = threading.local()
        self._checkpointer = _connect(path)

    def read(self, keys: Mapping[Entity, str]) -> dict[Entity, EntityState]:
        """Return each entity's state from one statement, so from one snapshot."""
        entities = tuple(keys)
        found: dict[Entity, EntityState] = {e: {} for e in entities}
        parameters = [p for e in entities for p in (self._key(e, keys[e]), STATE_FIELD)]
        with _unavailable_on_error():
            rows = self._reader().execute(self._select(entities), parameters).fetchall()
        for index, value in rows:
            found[entities[index]] = loads(ValueProto.FromString(value).string_val)
        return found

    def write(self, keys: Mapping[Entity, str], states: Mapping[Entity, EntityState]) -> None:
        """Store every state in one transaction, so a reader sees all of an order or none."""
        # Naive UTC, stored by the adapter Feast's SQLite module registers, as its own writes.
        written_at = to_naive_utc(datetime.now(UTC))
        rows = []
        for entity, state in states.items():
            text = dumps(state)
            value = ValueProto(string_val=text).SerializeToString()
            key = self._key(entity, keys[entity])
            rows.append((self._upserts[entity], (key, STATE_FIELD, value, text, written_at, None)))
        with _unavailable_on_error(), self._write_lock, self._writer:
            for upsert, row in rows:
                self._writer.execute(upsert, row)

    def checkpoint(self) -> None:
        """Copy the WAL into the database file, so that the next write starts it over.

        A PASSIVE checkpoint waits for no one and blocks no one, but the WAL only
        starts over after one that copied every frame, and orders keep writing
        while it copies: on its own it never catches up, the WAL grows to the
        automatic checkpoint's threshold and that one copies inside an order's
        commit. So the bulk is copied alongside the writes, and the few frames
        they added meanwhile with the write lock held.
        """
        with _unavailable_on_error():
            self._checkpointer.execute("PRAGMA wal_checkpoint(PASSIVE)")
            with self._write_lock:
                self._checkpointer.execute("PRAGMA wal_checkpoint(PASSIVE)")

    def _reader(self) -> sqlite3.Connection:
        reader: sqlite3.Connection | None = getattr(self._readers, "connection", None)
        if reader is None:
            reader = self._readers.connection = _connect(self._path)
        return reader

    def _select(self, entities: tuple[Entity, ...]) -> str:
        if entities not in self._selects:
            self._selects[entities] = " UNION ALL ".join(
                f"SELECT {index}, value FROM {self._tables[entity]}"
                " WHERE entity_key = ? AND feature_name = ?"
                for index, entity in enumerate(entities)
            )
        return self._selects[entities]

    def _key(self, entity: Entity, key: str) -> bytes:
        return serialize_entity_key(
            entity_key(entity, key), entity_key_serialization_version=self._key_version
        )


class RedisStates:
    """States in Feast's Redis layout, one round trip per read and per write."""

    def __init__(self, store: FeatureStore, views: Mapping[Entity, FeatureView]) -> None:
        config = store.config
        self._project = config.project
        self._key_version = config.entity_key_serialization_version
        self._ttl_seconds = config.online_store.key_ttl_seconds
        online_store: Any = store._get_provider().online_store
        self._client = online_store._get_client(config.online_store)
        self._fields = {e: _mmh3(f"{view.name}:{STATE_FIELD}") for e, view in views.items()}
        self._time_fields = {e: f"_ts:{view.name}" for e, view in views.items()}

    def read(self, keys: Mapping[Entity, str]) -> dict[Entity, EntityState]:
        """Return each entity's state from one pipelined round trip."""
        with _unavailable_on_error(), self._client.pipeline(transaction=False) as pipe:
            for entity, key in keys.items():
                pipe.hget(self._redis_key(entity, key), self._fields[entity])
            raw = pipe.execute()
        return {
            entity: loads(ValueProto.FromString(value).string_val if value else None)
            for entity, value in zip(keys, raw, strict=True)
        }

    def write(self, keys: Mapping[Entity, str], states: Mapping[Entity, EntityState]) -> None:
        """Store every state in one MULTI/EXEC, so a reader sees all of an order or none."""
        stamp = Timestamp()
        stamp.FromDatetime(datetime.now(UTC))
        written_at = stamp.SerializeToString()
        with _unavailable_on_error(), self._client.pipeline(transaction=True) as pipe:
            for entity, state in states.items():
                name = self._redis_key(entity, keys[entity])
                value = ValueProto(string_val=dumps(state)).SerializeToString()
                pipe.hset(
                    name,
                    mapping={self._time_fields[entity]: written_at, self._fields[entity]: value},
                )
                if self._ttl_seconds:
                    pipe.expire(name, self._ttl_seconds)
            pipe.execute()

    def checkpoint(self) -> None:
        """Nothing to do: Redis persists (or not) by its own configuration."""

    def _redis_key(self, entity: Entity, key: str) -> bytes:
        return bytes(
            _redis_key(
                self._project,
                entity_key(entity, key),
                entity_key_serialization_version=self._key_version,
            )
        )


@contextmanager
def _unavailable_on_error() -> Iterator[None]:
    """Turn any store client error into `OnlineStoreUnavailable`."""
    try:
        yield
    except Exception as error:  # whatever the client raises, the store is out
        raise OnlineStoreUnavailable(str(error)) from error


def _connect(path: str) -> sqlite3.Connection:
    """Open the embedded SQLite online store in WAL mode, without fsyncs.

    The online store holds derived state, like Redis kept in memory: a crash of
    the service loses nothing (the OS has the pages), and after a crash of the
    machine itself `ordershield features materialize` rebuilds it. So no commit
    and no checkpoint waits for the disk, which measured as the embedded store's
    latency tail.
    """
    connection = sqlite3.connect(path, check_same_thread=False)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA synchronous=OFF")
    # The service checkpoints in the background (`checkpoint`); the automatic one is
    # only a backstop for processes that do not.
    connection.execute(f"PRAGMA wal_autocheckpoint={WAL_BACKSTOP_PAGES}")
    return connection
