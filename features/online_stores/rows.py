"""The layout both online stores share, and the Feast adapter over it.

A row is one entity of one feature view: its feature values (serialized
`ValueProto`s, as Feast hands them over and serves them) and its event time.
Every view here has one string join key, so a row is keyed by the key's value
rather than by Feast's serialized entity key: the stores stay readable with
their own tools, and the fast paths build keys without Feast.
"""

from __future__ import annotations

import hashlib
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import NamedTuple, Protocol

from feast import Entity, FeatureView
from feast.infra.online_stores.online_store import OnlineStore
from feast.protos.feast.types.EntityKey_pb2 import EntityKey as EntityKeyProto
from feast.protos.feast.types.Value_pb2 import Value as ValueProto
from feast.repo_config import RepoConfig

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MICROSECOND = timedelta(microseconds=1)
# Rows per transaction when Feast materializes: large enough to amortise the
# commit, small enough not to hold the writer (or Redis) for long.
WRITE_CHUNK = 1_000

Cell = tuple[str, str, str]
"""One feature value's address: view, entity key, feature name."""
Expected = tuple[Cell, "str | None"]
"""A cell and the SHA-1 (hex) of the value a write expects it to hold (None: absent)."""


class Conflict(RuntimeError):
    """Raised when a conditional write finds a cell changed since it was read."""


def digest(value: bytes | None) -> str | None:
    """Return what a conditional write compares a read value by."""
    return None if value is None else hashlib.sha1(value, usedforsecurity=False).hexdigest()


class Row(NamedTuple):
    """One entity's feature values in one view, as stored."""

    view: str
    key: str
    values: dict[str, bytes]
    event_us: int
    created_us: int | None = None
    ttl_seconds: int | None = None
    """Expire the row this long after the write (None: the store's own setting; 0: never)."""


class StoredRow(NamedTuple):
    """One entity's stored values of the requested features, and its event time."""

    event_us: int
    values: dict[str, bytes]


class Rows(Protocol):
    """Rows of one project in one storage, each operation one round trip."""

    def read(self, cells: Sequence[Cell]) -> list[bytes | None]:
        """Return each cell's value (None where absent) from one consistent read."""
        ...

    def read_rows(
        self, view: str, keys: Sequence[str], features: Sequence[str]
    ) -> list[StoredRow | None]:
        """Return each key's row of `view` (None where absent)."""
        ...

    def write(
        self, rows: Sequence[Row], count: Cell | None = None, expect: Sequence[Expected] = ()
    ) -> int | None:
        """Store every row at once: a reader sees all of them or none.

        With `count`, also add one to that integer cell in the same write and
        return its new value (the state generation, `features.state_stores`).
        With `expect`, write only if every cell still holds what was read (by
        its `digest`), atomically in the store, else raise `Conflict`: this is
        how writers in many processes update one state without a lock.
        """
        ...

    def delete_views(self, views: Sequence[str]) -> None:
        """Remove every row of these views."""
        ...

    def expire(self, view: str, before_us: int) -> None:
        """Remove the rows of `view` written before `before_us` whose TTL the store cannot keep."""
        ...

    def checkpoint(self) -> None:
        """Do the storage's periodic upkeep (if it has any)."""
        ...


def entity_id(entity_key: EntityKeyProto) -> str:
    """Return the value of an entity key's one string join key."""
    if len(entity_key.entity_values) != 1 or not entity_key.entity_values[0].HasField("string_val"):
        raise ValueError(f"rows are keyed by one string join key, not {list(entity_key.join_keys)}")
    return str(entity_key.entity_values[0].string_val)


def micros(moment: datetime) -> int:
    """Return a moment as microseconds since the epoch (naive means UTC, as Feast's)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int((moment - EPOCH) // MICROSECOND)


def moment(us: int) -> datetime:
    """Return microseconds since the epoch as a UTC datetime."""
    return EPOCH + us * MICROSECOND


class RowsOnlineStore(OnlineStore, ABC):
    """A Feast online store over `Rows`: what Feast writes and reads, the fast paths too."""

    def __init__(self) -> None:
        self._rows: Rows | None = None

    def rows(self, config: RepoConfig) -> Rows:
        """Return the rows of this repo's project, opened on first use."""
        # Feast builds the store without its config, so the storage opens with the
        # first call; two threads racing here only open it twice, one copy is dropped.
        if self._rows is None:
            self._rows = self.open_rows(config)
        return self._rows

    @abstractmethod
    def open_rows(self, config: RepoConfig) -> Rows:
        """Open the storage of this repo's project."""

    def online_write_batch(
        self,
        config: RepoConfig,
        table: FeatureView,
        data: list[tuple[EntityKeyProto, dict[str, ValueProto], datetime, datetime | None]],
        progress: Callable[[int], object] | None,
    ) -> None:
        """Store Feast's rows of one view, a chunk per transaction."""
        # Last write wins, with no check of the stored event time (Feast's Redis
        # store's dedup): every order rewrites its states, and OrderShield
        # serialises those writes itself.
        rows = self.rows(config)
        for start in range(0, len(data), WRITE_CHUNK):
            chunk = data[start : start + WRITE_CHUNK]
            rows.write(
                [
                    Row(
                        view=table.name,
                        key=entity_id(key),
                        values={name: value.SerializeToString() for name, value in values.items()},
                        event_us=micros(event_ts),
                        created_us=None if created_ts is None else micros(created_ts),
                    )
                    for key, values, event_ts, created_ts in chunk
                ]
            )
            if progress:
                progress(len(chunk))

    def online_read(
        self,
        config: RepoConfig,
        table: FeatureView,
        entity_keys: list[EntityKeyProto],
        requested_features: list[str] | None = None,
    ) -> list[tuple[datetime | None, dict[str, ValueProto] | None]]:
        """Return each entity's event time and values of the requested features."""
        features = requested_features or [feature.name for feature in table.features]
        found = self.rows(config).read_rows(
            table.name, [entity_id(key) for key in entity_keys], features
        )
        return [
            (None, None)
            if row is None
            else (
                moment(row.event_us),
                {name: ValueProto.FromString(value) for name, value in row.values.items()},
            )
            for row in found
        ]

    def update(
        self,
        config: RepoConfig,
        tables_to_delete: Sequence[FeatureView],
        tables_to_keep: Sequence[FeatureView],
        entities_to_delete: Sequence[Entity],
        entities_to_keep: Sequence[Entity],
        partial: bool,
    ) -> None:
        """Drop the rows of deleted views (kept views need nothing: rows come with writes)."""
        self.rows(config).delete_views([table.name for table in tables_to_delete])

    def teardown(
        self, config: RepoConfig, tables: Sequence[FeatureView], entities: Sequence[Entity]
    ) -> None:
        """Drop the rows of these views."""
        self.rows(config).delete_views([table.name for table in tables])
