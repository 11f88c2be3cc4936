"""Where entity states live: Feast's online store, behind one small interface.

`OnlineFeatures` reads all of an order's entity states at once and writes them
back at once. Two implementations, both on the rows Feast materializes and
serves (`get_online_features` reads what they write, and they read what
`feast materialize` wrote; both are tested):

- `FeastViewStates` goes through the provider's `online_read` and
  `online_write_batch`, one call per feature view. These are the store
  interface `get_online_features` itself calls per view; calling them directly
  skips the request planning (registry lookups, proto conversions, response
  assembly) that costs several times the read. It serves every Feast online
  store, and is the one used for the embedded SQLite store.
- `RedisStates` reads the five states in one Redis round trip and writes them
  in one MULTI/EXEC, in the layout Feast's Redis store uses (hash per entity
  key, field per view and feature, `_ts:<view>` beside it). Feast's Redis store
  costs one round trip per view, five per read and five per write, which
  dominated the scoring time.

Writes go through the online store rather than `FeatureStore.push`: push runs
its batch-source checks and DataFrame conversions on every call (about 25 ms
here), and this write sits on the order's critical path.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator, Mapping
from contextlib import closing, contextmanager
from datetime import UTC, datetime
from typing import Any, Protocol

from feast import FeatureStore, FeatureView
from feast.infra.online_stores.helpers import _mmh3, _redis_key
from feast.protos.feast.types.EntityKey_pb2 import EntityKey as EntityKeyProto
from feast.protos.feast.types.Value_pb2 import Value as ValueProto
from google.protobuf.timestamp_pb2 import Timestamp

from features.repo import STATE_FIELD, state_view_name
from features.spec import ENTITIES, Entity
from features.state import EntityState, dumps, loads

# Pages of WAL after which SQLite checkpoints on its own, inside a commit (4 MB):
# kept small, so that when it happens it is short.
WAL_BACKSTOP_PAGES = 1_000


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
    if store.config.online_store.type == "redis":
        return RedisStates(store, views)
    return FeastViewStates(store, views)


def entity_key(entity: Entity, key: str) -> EntityKeyProto:
    """Return Feast's key of one entity."""
    return EntityKeyProto(join_keys=[entity.key], entity_values=[ValueProto(string_val=key)])


class FeastViewStates:
    """States through the Feast provider, one online-store call per feature view."""

    def __init__(self, store: FeatureStore, views: Mapping[Entity, FeatureView]) -> None:
        self._config = store.config
        self._provider = store._get_provider()
        self._views = views
        # Feast's SQLite store shares one connection between threads, and its
        # transactions must not interleave.
        self._lock = threading.Lock()
        self._sqlite_path: str | None = None
        if self._config.online_store.type == "sqlite":
            online_store: Any = self._provider.online_store
            _tune_sqlite(online_store, self._config)
            self._sqlite_path = online_store._get_db_path(self._config)

    def read(self, keys: Mapping[Entity, str]) -> dict[Entity, EntityState]:
        """Return each entity's state, one `online_read` per view."""
        found: dict[Entity, EntityState] = {}
        with _unavailable_on_error(), self._lock:
            for entity, key in keys.items():
                ((_, values),) = self._provider.online_read(
                    self._config, self._views[entity], [entity_key(entity, key)]
                )
                found[entity] = loads(values[STATE_FIELD].string_val if values else None)
        return found

    def write(self, keys: Mapping[Entity, str], states: Mapping[Entity, EntityState]) -> None:
        """Store each entity's state, one `online_write_batch` per view."""
        now = datetime.now(UTC)
        with _unavailable_on_error(), self._lock:
            for entity, state in states.items():
                values = {STATE_FIELD: ValueProto(string_val=dumps(state))}
                row = (entity_key(entity, keys[entity]), values, now, None)
                self._provider.online_write_batch(self._config, self._views[entity], [row], None)

    def checkpoint(self) -> None:
        """Copy the SQLite WAL into the database file from a connection of its own.

        A PASSIVE checkpoint waits for no one and blocks no one, so the copying
        stays off the scoring path, where SQLite's automatic checkpoint would do it
        (with the store's lock held) every few hundred orders.
        """
        if self._sqlite_path is None:
            return
        with _unavailable_on_error(), closing(sqlite3.connect(self._sqlite_path)) as connection:
            connection.execute("PRAGMA wal_checkpoint(PASSIVE)")


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


def _tune_sqlite(online_store: Any, config: Any) -> None:
    """Run the embedded SQLite online store in WAL mode without fsyncs.

    Feast commits once per feature view and order. The online store holds
    derived state, like Redis kept in memory: a crash of the service loses
    nothing (the OS has the pages), and after a crash of the machine itself
    `ordershield features materialize` rebuilds it. So no commit and no
    checkpoint waits for the disk, which measured as the embedded store's
    latency tail.
    """
    connection = online_store._get_conn(config)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA synchronous=OFF")
    # The service checkpoints in the background (`checkpoint`); the automatic one is
    # only a backstop for processes that do not.
    connection.execute(f"PRAGMA wal_autocheckpoint={WAL_BACKSTOP_PAGES}")
