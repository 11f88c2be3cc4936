"""Online features: one read of an order's entity states, windows evaluated at the order's time.

Each scored order, declined payment and fraud label updates the states of the
order's entities (`record`), so the very next order on the same device, network,
payment account, address or customer sees it. Where the states live, and why
they are read and written the way they are, is `features.state_stores`.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np
from feast import FeatureStore

from features.aggregates import AGGREGATES
from features.ipclusters import lookup
from features.spec import ENTITIES, Columns, Entity, Stream
from features.state import EntityState, apply_event, evaluate
from features.state_stores import OnlineStoreUnavailable, state_store
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
AGGREGATES_OF = {e: [f for f in AGGREGATES if f.entity == e] for e in ENTITIES}


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


class OnlineFeatures:
    """Reads and updates entity states in the Feast online store."""

    def __init__(self, store: FeatureStore) -> None:
        self._states = state_store(store)
        self._stripes = [threading.Lock() for _ in range(LOCK_STRIPES)]

    def read_states(self, keys: Mapping[Entity, str]) -> dict[Entity, EntityState]:
        """Return the states of the given entities in one read."""
        return self._states.read(keys) if keys else {}

    def checkpoint(self) -> None:
        """Do the online store's periodic upkeep (SQLite: checkpoint its WAL)."""
        self._states.checkpoint()

    def write_states(
        self, keys: Mapping[Entity, str], states: Mapping[Entity, EntityState]
    ) -> None:
        """Store the states of the given entities in one write."""
        self._states.write(keys, states)

    @contextmanager
    def holding(self, order: Columns) -> Iterator[OrderFeatures]:
        """Read the order's entity states once and hold them until the order is recorded.

        While held, no other order, decline or label of this process touches those
        entities, so concurrent orders on one device see each other in turn, as
        they do offline. A store that does not answer gives degraded features.
        """
        keys = entity_keys(order)
        with self._locked(keys):
            try:
                states, degraded = self.read_states(keys), False
            except OnlineStoreUnavailable:
                states, degraded = {}, True
            yield OrderFeatures(self, order, keys, states, degraded)

    def record(self, order: Columns, stream: Stream, time_ms: int) -> None:
        """Add one event of the order (placed, declined, fraud) to its entities' states."""
        with self.holding(order) as held:
            held.record(stream, time_ms)

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


class OrderFeatures:
    """One order's entity states as read, held by `OnlineFeatures.holding`."""

    def __init__(
        self,
        owner: OnlineFeatures,
        order: Columns,
        keys: Mapping[Entity, str],
        states: dict[Entity, EntityState],
        degraded: bool,
    ) -> None:
        self._owner = owner
        self._order = order
        self._keys = keys
        self._states = states
        self.degraded = degraded

    @property
    def keys(self) -> Mapping[Entity, str]:
        """Return the entity keys the order names (what it links to other orders by)."""
        return self._keys

    def served(self, names: Sequence[str]) -> ServedFeatures:
        """Return the order's features in `names` order, evaluated at the order's time."""
        now = int(self._order["created_at"][0])
        wanted = set(names)
        aggregates: dict[str, np.ndarray] = {}
        for feature in AGGREGATES:
            if feature.name not in wanted:
                continue
            value = np.nan
            if feature.entity in self._keys and not self.degraded:
                value = evaluate(self._states.get(feature.entity), feature, now)
            aggregates[feature.name] = np.array([value])
        matrix = feature_matrix(self._order, aggregates, names)
        return ServedFeatures(names, matrix, self.degraded)

    def record(self, stream: Stream, time_ms: int) -> None:
        """Apply one event of the order to the held states and write them."""
        if self.degraded:
            raise OnlineStoreUnavailable("the order's entity states could not be read")
        row = {name: values[0] for name, values in self._order.items()}
        for entity, state in self._states.items():
            apply_event(state, AGGREGATES_OF[entity], stream, time_ms, row)
        self._owner.write_states(self._keys, self._states)
