"""Online features: one read of an order's entity states, windows evaluated at the order's time.

Each scored order, declined payment and fraud label updates the states of the
order's entities (`record`), so the very next order on the same device, network,
payment account, address or customer sees it. States are written with Feast's
provider `online_write_batch` rather than `FeatureStore.push`: both land in the
same online store rows, but push runs its batch-source checks and DataFrame
conversions on every call (about 25 ms against about 1 ms here), and this write
sits on the order's critical path.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np
from feast import FeatureStore
from feast.protos.feast.types.EntityKey_pb2 import EntityKey as EntityKeyProto
from feast.protos.feast.types.Value_pb2 import Value as ValueProto

from features.aggregates import AGGREGATES
from features.ipclusters import lookup
from features.repo import STATE_FIELD, state_view_name
from features.spec import ENTITIES, Columns, Entity, Stream
from features.state import EntityState, apply_event, dumps, evaluate, loads
from features.vector import feature_matrix

TEXT_COLUMNS = frozenset(
    {
        "order_id",
        "customer_id",
        "email",
        "phone",
        "device_id",
        "user_agent",
        "ip",
        "payment_id",
        "payment_method",
        "card_bin",
        "card_last4",
        "card_country",
        "shipping_address_id",
        "shipping_country",
        "billing_address_id",
        "billing_country",
        "currency",
        "scenario",
        "ip_cluster",
        "ip_country",
    }
)
LOCK_STRIPES = 256


class OnlineStoreUnavailable(RuntimeError):
    """Raised when the online store cannot be read or written."""


def order_columns(order: Mapping[str, Any]) -> Columns:
    """Return one canonical order (times in epoch ms) as one-row feature columns with IP info."""
    values = dict(order)
    ip = values.get("ip")
    info = lookup(str(ip)) if ip else None
    values["ip_cluster"] = info.cluster if info else None
    values["ip_country"] = info.country if info else None
    values["ip_is_hosting"] = info.is_hosting if info else None
    columns: dict[str, np.ndarray] = {}
    for name, value in values.items():
        if name in TEXT_COLUMNS:
            columns[name] = np.array([None if value is None else str(value)], dtype=object)
        else:
            columns[name] = np.array([np.nan if value is None else float(value)])
    return columns


@dataclass(frozen=True)
class ServedFeatures:
    """An order's feature vector in a model's order, and whether the store answered."""

    names: Sequence[str]
    matrix: np.ndarray
    degraded: bool

    def as_dict(self) -> dict[str, float | None]:
        """Return name → value, None for missing values (JSON has no NaN)."""
        return {
            n: (None if np.isnan(v) else float(v))
            for n, v in zip(self.names, self.matrix[0], strict=True)
        }


def entity_keys(order: Columns) -> dict[Entity, str]:
    """Return the order's entity keys (entities the order does not name are left out)."""
    keys = {}
    for entity in ENTITIES:
        value = order.get(entity.key, np.array([None], dtype=object))[0]
        if value is not None:
            keys[entity] = str(value)
    return keys


def _tune_embedded_store(store: FeatureStore) -> None:
    """Put the embedded SQLite online store in WAL mode without an fsync per commit.

    Feast commits once per feature view and order; with SQLite's defaults that is
    five fsyncs per order. The online store holds derived state (rebuilt by
    `ordershield features materialize`), so WAL with synchronous=NORMAL, which
    can lose only the last commits on power loss, is the right trade here.
    """
    if store.config.online_store.type != "sqlite":
        return
    online_store: Any = store._get_provider().online_store
    connection = online_store._get_conn(store.config)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA synchronous=NORMAL")


class OnlineFeatures:
    """Reads and updates entity states in the Feast online store."""

    def __init__(self, store: FeatureStore) -> None:
        self._store = store
        self._views = {e: store.get_feature_view(state_view_name(e)) for e in ENTITIES}
        self._stripes = [threading.Lock() for _ in range(LOCK_STRIPES)]
        # Feast's SQLite store shares one connection between threads, and its
        # transactions must not interleave; Redis clients are thread-safe.
        embedded = store.config.online_store.type == "sqlite"
        self._store_lock: AbstractContextManager[Any] = (
            threading.Lock() if embedded else nullcontext()
        )
        _tune_embedded_store(store)

    def read_states(self, keys: Mapping[Entity, str]) -> dict[Entity, EntityState]:
        """Return the states of the given entities in one online read."""
        if not keys:
            return {}
        refs = [f"{state_view_name(e)}:{STATE_FIELD}" for e in keys]
        row = {e.key: k for e, k in keys.items()}
        try:
            with self._store_lock:
                found = self._store.get_online_features(
                    features=refs, entity_rows=[row], full_feature_names=True
                ).to_dict()
        except Exception as error:  # any store client error means the store is out
            raise OnlineStoreUnavailable(str(error)) from error
        return {e: loads(found[f"{state_view_name(e)}__{STATE_FIELD}"][0]) for e in keys}

    def serve(self, order: Columns, names: Sequence[str]) -> ServedFeatures:
        """Return the order's features as of its time (degraded: no aggregates, store out)."""
        now = int(order["created_at"][0])
        keys = entity_keys(order)
        try:
            states = self.read_states(keys)
            degraded = False
        except OnlineStoreUnavailable:
            states, degraded = {}, True
        aggregates: dict[str, np.ndarray] = {}
        for feature in AGGREGATES:
            if feature.name not in names:
                continue
            value = np.nan
            if feature.entity in keys and not degraded:
                value = evaluate(states.get(feature.entity), feature, now)
            aggregates[feature.name] = np.array([value])
        return ServedFeatures(names, feature_matrix(order, aggregates, names), degraded)

    def record(self, order: Columns, stream: Stream, time_ms: int) -> None:
        """Add one event of the order (placed, declined, fraud) to its entities' states."""
        keys = entity_keys(order)
        row = {name: values[0] for name, values in order.items()}
        with self._locked(keys):
            states = self.read_states(keys)
            for entity, state in states.items():
                apply_event(
                    state, [f for f in AGGREGATES if f.entity == entity], stream, time_ms, row
                )
            self._write(keys, states)

    def _write(self, keys: Mapping[Entity, str], states: Mapping[Entity, EntityState]) -> None:
        provider = self._store._get_provider()
        now = datetime.now(UTC)
        try:
            with self._store_lock:
                self._write_rows(provider, keys, states, now)
        except Exception as error:  # any store client error means the store is out
            raise OnlineStoreUnavailable(str(error)) from error

    def _write_rows(
        self,
        provider: Any,
        keys: Mapping[Entity, str],
        states: Mapping[Entity, EntityState],
        now: datetime,
    ) -> None:
        """Write each entity's state row."""
        for entity, state in states.items():
            key = EntityKeyProto(
                join_keys=[entity.key], entity_values=[ValueProto(string_val=keys[entity])]
            )
            values = {STATE_FIELD: ValueProto(string_val=dumps(state))}
            provider.online_write_batch(
                self._store.config, self._views[entity], [(key, values, now, None)], None
            )

    @contextmanager
    def _locked(self, keys: Mapping[Entity, str]) -> Iterator[None]:
        """Serialise read-modify-write of the same entities within this process."""
        stripes = sorted({hash((e.name, k)) % LOCK_STRIPES for e, k in keys.items()})
        for index in stripes:
            self._stripes[index].acquire()
        try:
            yield
        finally:
            for index in reversed(stripes):
                self._stripes[index].release()

    def ping(self) -> bool:
        """Return whether the online store answers a read."""
        try:
            self.read_states({ENTITIES[0]: "__ping__"})
        except OnlineStoreUnavailable:
            return False
        return True
