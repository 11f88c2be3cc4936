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
- `RedisStates` reads the five states in one script call and writes them in
  another, with the optional key TTL (`features.online_stores.redis_store`).

Both write all of an order or none. Writes go through the online store rather
than `FeatureStore.push`: push runs its batch-source checks and DataFrame
conversions on every call (about 25 ms here), and this write sits on the
order's critical path.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime

from feast import FeatureStore
from feast.protos.feast.types.Value_pb2 import Value as ValueProto

from features.catalog import current
from features.online_stores.redis_store import OrderShieldRedisOnlineStoreConfig, redis_rows
from features.online_stores.rows import WRITE_CHUNK, Cell, Conflict, Row, Rows, digest, micros
from features.online_stores.sqlite import OrderShieldSqliteOnlineStoreConfig, database
from features.repo import STATE_FIELD, state_view_name
from features.spec import Entity
from features.state import EntityState, dumps, loads

# The marker's cells: no feature view has this name, and each field is one cell.
MARKER_VIEW = "__ordershield__"
MARKER_KEY = "state"
EPOCH, GENERATION_FIELD, STATUS, OWNER = "epoch", "generation", "status", "owner"
MARKER_CELLS: tuple[Cell, ...] = tuple(
    (MARKER_VIEW, MARKER_KEY, name) for name in (EPOCH, GENERATION_FIELD, STATUS)
)
GENERATION: Cell = (MARKER_VIEW, MARKER_KEY, GENERATION_FIELD)
OWNER_CELL: Cell = (MARKER_VIEW, MARKER_KEY, OWNER)
# One row per applied event, written with the event's states, kept for `EVENT_TTL_S`.
APPLIED_VIEW = "__applied__"
APPLIED_FIELD = "at"
EVENT_TTL_S = 3600
# How often a store that cannot expire rows itself (SQLite) drops the old records.
EXPIRE_EVERY_S = 60


class OnlineStoreUnavailable(RuntimeError):
    """Raised when the online store cannot be read or written."""


class StateConflict(RuntimeError):
    """Raised when a state changed between its read and a write (another writer came first)."""


@dataclass(frozen=True)
class StatesRead:
    """Entity states from one read, whether an event was in them, and what a write expects."""

    states: dict[Entity, EntityState]
    applied: bool
    digests: dict[Entity, str | None]


class OnlineStateLost(OnlineStoreUnavailable):
    """Raised when the online store answers but lost its state (emptied, or an older copy).

    `rebuilding`: a rebuild is under way already (nobody need start another).
    """

    def __init__(self, message: str, rebuilding: bool = False) -> None:
        super().__init__(message)
        self.rebuilding = rebuilding


def state_store(store: FeatureStore, timeout_seconds: float | None = None) -> RowStates:
    """Return the state store over this Feast store's online store.

    `timeout_seconds` bounds each call to a networked store (Redis).
    """
    # The registry names the views, and so also checks they were applied.
    views = {e: store.get_feature_view(state_view_name(e)).name for e in current().entities}
    config = store.config
    online = config.online_store
    if isinstance(online, OrderShieldSqliteOnlineStoreConfig):
        return SqliteStates(database(config, timeout_seconds), views)
    if isinstance(online, OrderShieldRedisOnlineStoreConfig):
        return RedisStates(redis_rows(config, timeout_seconds), views)
    raise ValueError(f"no state store for the {online.type!r} online store")


@dataclass(frozen=True)
class Marker:
    """What the store says of its own state: which build it is, and how many writes it took.

    `epoch` names the build (apply, materialize or rebuild: epoch milliseconds of
    it), `generation` counts the writes since, in the same transaction as each
    write, and `status` is `ok` only while the state is whole.
    """

    epoch: int | None
    generation: int
    status: str | None

    @classmethod
    def parse(cls, values: Sequence[bytes | None]) -> Marker:
        """Read a marker from its cells (epoch, generation, status)."""
        epoch, generation, status = values
        return cls(
            None if epoch is None else int(epoch),
            0 if generation is None else int(generation),
            None if status is None else status.decode(),
        )


class RowStates:
    """Entity states as the one state feature of each entity's view, read and written at once.

    Beside the states the store keeps a marker (`Marker`), read in the same
    round trip as the states and counted up in the same transaction as every
    write. A store that restarted empty has no marker; one restored from an
    older copy has a lower count than this process already saw. Either way the
    states are not the truth any more: reads and writes raise `OnlineStateLost`,
    and the marker says `lost` to every other process too, until
    `ordershield features rebuild` (`reset`) writes whole states and a new epoch.
    """

    def __init__(self, rows: Rows, views: Mapping[Entity, str]) -> None:
        self._rows = rows
        self._views = dict(views)
        self._seen = (0, 0)  # the newest (epoch, generation) this process saw
        self._expired_at = 0  # when the applied-event records were last expired (epoch µs)
        self._seen_lock = threading.Lock()

    def read(self, keys: Mapping[Entity, str], event: str | None = None) -> StatesRead:
        """Return each entity's state from one read, and whether `event` was applied to them."""
        cells = [(self._views[e], key, STATE_FIELD) for e, key in keys.items()]
        extra = [*MARKER_CELLS, *([(APPLIED_VIEW, event, APPLIED_FIELD)] if event else [])]
        seen = self._seen  # only what was known before the read can be missing from it
        with _unavailable_on_error():
            values = self._rows.read([*cells, *extra])
        self._check(Marker.parse(values[len(cells) : len(cells) + len(MARKER_CELLS)]), seen)
        stored = dict(zip(keys, values, strict=False))
        states = {
            entity: loads(None if value is None else ValueProto.FromString(value).string_val)
            for entity, value in stored.items()
        }
        digests = {entity: digest(value) for entity, value in stored.items()}
        return StatesRead(states, event is not None and values[-1] is not None, digests)

    def write(
        self,
        keys: Mapping[Entity, str],
        states: Mapping[Entity, EntityState],
        event: str | None = None,
        expect: Mapping[Entity, str | None] | None = None,
    ) -> None:
        """Store every state in one write, so a reader sees all of an order or none.

        With `event`, the write also records that event as applied, in the same
        transaction: a write that timed out on the client but reached the store
        is then found by the retry's read, which does not apply it twice. With
        `expect` (a read's digests) it writes only if no state changed since that
        read, else raises `StateConflict`: the caller reads again and re-applies.
        """
        written_at = micros(datetime.now(UTC))
        rows = [
            self._state_row(entity, keys[entity], state, written_at)
            for entity, state in states.items()
        ]
        if event is not None:
            rows.append(self._applied_row(event, written_at))
        expected = [
            ((self._views[entity], keys[entity], STATE_FIELD), value)
            for entity, value in (expect or {}).items()
        ]
        seen = self._seen
        with _unavailable_on_error():
            generation = self._rows.write(rows, count=GENERATION, expect=expected)
        self._check_count(generation or 0, seen)

    def write_all(self, entity: Entity, states: Mapping[str, EntityState]) -> None:
        """Store many states of one entity kind, a chunk per write (rebuilds and loads)."""
        written_at = micros(datetime.now(UTC))
        items = list(states.items())
        for start in range(0, len(items), WRITE_CHUNK):
            rows = [
                self._state_row(entity, key, state, written_at)
                for key, state in items[start : start + WRITE_CHUNK]
            ]
            with _unavailable_on_error():
                self._rows.write(rows)

    @staticmethod
    def _applied_row(event: str, written_at: int) -> Row:
        """Return the row that records one event as applied, kept `EVENT_TTL_S`."""
        return Row(APPLIED_VIEW, event, {APPLIED_FIELD: b"1"}, written_at, None, EVENT_TTL_S)

    def _state_row(self, entity: Entity, key: str, state: EntityState, written_at: int) -> Row:
        """Return the row that stores one entity's state."""
        value = ValueProto(string_val=dumps(state)).SerializeToString()
        return Row(self._views[entity], key, {STATE_FIELD: value}, written_at)

    def marker(self) -> Marker:
        """Return the store's marker as it is now."""
        with _unavailable_on_error():
            return Marker.parse(self._rows.read(MARKER_CELLS))

    def owner(self) -> str | None:
        """Return who last claimed a rebuild of the store (see `set_status`)."""
        with _unavailable_on_error():
            (value,) = self._rows.read([OWNER_CELL])
        return None if value is None else value.decode()

    def applied(self, events: Sequence[str]) -> list[bool]:
        """Return, from one read, whether each event is recorded as applied."""
        with _unavailable_on_error():
            found = self._rows.read([(APPLIED_VIEW, e, APPLIED_FIELD) for e in events])
        return [value is not None for value in found]

    def mark_applied(self, events: Iterable[str]) -> None:
        """Record events as applied, as their writes would have (a rebuild applied them)."""
        written_at = micros(datetime.now(UTC))
        ids = list(events)
        for start in range(0, len(ids), WRITE_CHUNK):
            rows = [self._applied_row(e, written_at) for e in ids[start : start + WRITE_CHUNK]]
            with _unavailable_on_error():
                self._rows.write(rows)

    def set_status(self, status: str, epoch: int | None = None, owner: str | None = None) -> None:
        """Write the marker's status (with a new epoch at generation 0, or a rebuild's owner)."""
        values = {STATUS: status.encode()}
        if owner is not None:
            values[OWNER] = owner.encode()
        if epoch is not None:
            values |= {EPOCH: str(epoch).encode(), GENERATION_FIELD: b"0"}
        with _unavailable_on_error():
            # The marker never expires, whatever TTL the store gives entity rows.
            marker = Row(MARKER_VIEW, MARKER_KEY, values, micros(datetime.now(UTC)), None, 0)
            self._rows.write([marker])
        if epoch is not None and status == "ok":
            with self._seen_lock:
                self._seen = max(self._seen, (epoch, 0))

    def checkpoint(self) -> None:
        """Do the store's periodic upkeep away from the scoring path."""
        now = micros(datetime.now(UTC))
        with _unavailable_on_error():
            if now - self._expired_at > EXPIRE_EVERY_S * 1_000_000:
                self._rows.expire(APPLIED_VIEW, now - EVENT_TTL_S * 1_000_000)
                self._expired_at = now
            self._rows.checkpoint()

    def _check(self, marker: Marker, seen: tuple[int, int]) -> None:
        """Raise `OnlineStateLost` unless the marker says the states are whole and current."""
        if marker.status != "ok" or marker.epoch is None:
            reason = "has no state marker" if marker.epoch is None else f"is {marker.status}"
            rebuilding = marker.status == "rebuilding"
            raise OnlineStateLost(f"the online store {reason}: rebuild it", rebuilding)
        now = (marker.epoch, marker.generation)
        if now < seen:
            self._mark_lost()
            raise OnlineStateLost("the online store went back to an older copy: rebuild it")
        with self._seen_lock:
            self._seen = max(self._seen, now)

    def _check_count(self, generation: int, seen: tuple[int, int]) -> None:
        """Raise `OnlineStateLost` if a write's new count is not past what was seen before it."""
        epoch, before = seen
        if epoch and generation <= before:
            # Either the store went back, or a new build (another process's materialize
            # or rebuild) started a new epoch meanwhile: the marker tells them apart.
            self._check(self.marker(), seen)
            return
        with self._seen_lock:
            self._seen = max(self._seen, (epoch, generation))

    def _mark_lost(self) -> None:
        """Tell every process that reads the marker that the states are not whole."""
        with contextlib.suppress(OnlineStoreUnavailable):
            self.set_status("lost")


class SqliteStates(RowStates):
    """States in the embedded store: one statement per read, one transaction per write."""


class RedisStates(RowStates):
    """States in Redis: one script call per read, one per write."""


@contextmanager
def _unavailable_on_error() -> Iterator[None]:
    """Turn any store client error into `OnlineStoreUnavailable` (a conflict is no error)."""
    try:
        yield
    except Conflict as conflict:
        raise StateConflict(str(conflict)) from conflict
    except Exception as error:  # whatever the client raises, the store is out
        raise OnlineStoreUnavailable(str(error)) from error
