"""Where entity states live: our Feast online store, behind one small interface.

`OnlineFeatures` reads all of an order's entity states at once and writes them
back at once. The online stores are our own (`features.online_stores`), so they
own their layout, and the state stores read and write the very rows Feast
materializes and serves (`get_online_features` reads what they write, and they
read what `feast materialize` wrote; both are tested). Through Feast's stores a
read or a write took one call per feature view, five per order each way, which
dominated the scoring time:

- `SqliteStates` reads the five states with one statement and writes them in
  one transaction (one writer behind a Python lock, a reader per thread, WAL
  without fsyncs, a background `checkpoint`: `features.online_stores.sqlite`).
- `RedisStates` reads the five states in one pipelined round trip and writes
  them in one MULTI/EXEC, with the optional key TTL.

Both write all of an order or none. Writes go through the online store rather
than `FeatureStore.push`: push runs its batch-source checks and DataFrame
conversions on every call (about 25 ms here), and this write sits on the
order's critical path.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Protocol

from feast import FeatureStore
from feast.protos.feast.types.Value_pb2 import Value as ValueProto

from features.online_stores.redis_store import OrderShieldRedisOnlineStoreConfig, redis_rows
from features.online_stores.rows import Row, Rows, micros
from features.online_stores.sqlite import OrderShieldSqliteOnlineStoreConfig, database
from features.repo import STATE_FIELD, state_view_name
from features.spec import ENTITIES, Entity
from features.state import EntityState, dumps, loads


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
    """Return the state store over this Feast store's online store."""
    # The registry names the views, and so also checks they were applied.
    views = {e: store.get_feature_view(state_view_name(e)).name for e in ENTITIES}
    config = store.config
    online = config.online_store
    if isinstance(online, OrderShieldSqliteOnlineStoreConfig):
        return SqliteStates(database(config), views)
    if isinstance(online, OrderShieldRedisOnlineStoreConfig):
        return RedisStates(redis_rows(config), views)
    raise ValueError(f"no state store for the {online.type!r} online store")


class RowStates:
    """Entity states as the one state feature of each entity's view, read and written at once."""

    def __init__(self, rows: Rows, views: Mapping[Entity, str]) -> None:
        self._rows = rows
        self._views = dict(views)

    def read(self, keys: Mapping[Entity, str]) -> dict[Entity, EntityState]:
        """Return each entity's state from one read of the store."""
        cells = [(self._views[e], key, STATE_FIELD) for e, key in keys.items()]
        with _unavailable_on_error():
            values = self._rows.read(cells)
        return {
            entity: loads(None if value is None else ValueProto.FromString(value).string_val)
            for entity, value in zip(keys, values, strict=True)
        }

    def write(self, keys: Mapping[Entity, str], states: Mapping[Entity, EntityState]) -> None:
        """Store every state in one write, so a reader sees all of an order or none."""
        written_at = micros(datetime.now(UTC))
        rows = [
            Row(
                view=self._views[entity],
                key=keys[entity],
                values={STATE_FIELD: ValueProto(string_val=dumps(state)).SerializeToString()},
                event_us=written_at,
            )
            for entity, state in states.items()
        ]
        with _unavailable_on_error():
            self._rows.write(rows)

    def checkpoint(self) -> None:
        """Do the store's periodic upkeep away from the scoring path."""
        with _unavailable_on_error():
            self._rows.checkpoint()


class SqliteStates(RowStates):
    """States in the embedded store: one statement per read, one transaction per write."""


class RedisStates(RowStates):
    """States in Redis: one pipelined round trip per read, one MULTI/EXEC per write."""


@contextmanager
def _unavailable_on_error() -> Iterator[None]:
    """Turn any store client error into `OnlineStoreUnavailable`."""
    try:
        yield
    except Exception as error:  # whatever the client raises, the store is out
        raise OnlineStoreUnavailable(str(error)) from error
