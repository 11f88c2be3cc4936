"""Online features: one read of an order's entity states, windows evaluated at the order's time.

Each scored order, declined payment and fraud label updates the states of the
order's entities (`record`), so the very next order on the same device, network,
payment account, address or customer sees it. Where the states live, and why
they are read and written the way they are, is `features.state_stores`.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TypeVar

import numpy as np
from feast import FeatureStore

from features.breaker import BreakerOpen, CircuitBreaker
from features.catalog import current
from features.currency import RateTable, rates_for
from features.order_row import entity_keys, with_reporting_amount
from features.settings import FeatureSettings
from features.spec import Columns, Entity, Stream
from features.state import EntityState, apply_event, evaluate_all
from features.state_stores import (
    OnlineStateLost,
    OnlineStoreUnavailable,
    RowStates,
    StateConflict,
    StatesRead,
    state_store,
)
from features.vector import feature_matrix

LOCK_STRIPES = 256
# Conditional writes of one event before it goes to the outbox (another writer kept winning),
# and the time they may take together, in online-store timeouts.
WRITE_ATTEMPTS = 8
WRITE_BUDGET_TIMEOUTS = 2
T = TypeVar("T")
# How often the scoring path looks whether the exchange-rate file changed.
RATES_CHECK_SECONDS = 1.0


# What a degraded answer names as the part that could not be used.
STORE_DOWN = "online_store"
STATE_LOST = "online_state_lost"


@dataclass(frozen=True)
class ServedFeatures:
    """An order's feature vector in a model's order, and which part could not be read."""

    names: Sequence[str]
    matrix: np.ndarray
    degraded_part: str | None

    @property
    def degraded(self) -> bool:
        """Return whether the entity features are missing because the store could not answer."""
        return self.degraded_part is not None

    def as_dict(self) -> dict[str, float | None]:
        """Return name → value, None for missing values (JSON has no NaN)."""
        # `tolist` hands back Python floats in one call; NaN is the one float unequal to itself.
        values = self.matrix[0].tolist()
        return {n: (v if v == v else None) for n, v in zip(self.names, values, strict=True)}


@dataclass(frozen=True)
class Event:
    """One event of an order on one stream, and its identity (it counts once)."""

    stream: Stream
    time_ms: int
    id: str
    withdraws_ms: int | None = None
    """The time of the order's event this one withdraws (a withdrawn fraud label)."""


def event_id(
    order_id: str,
    stream: Stream,
    time_ms: int,
    key: str | None = None,
    withdraws_ms: int | None = None,
) -> str:
    """Return an event's identity: its order, stream, time and stored key (a retry has the same).

    `key` tells apart two events of one order on one stream at the same moment
    (two declines, say): the id of the stored event. A withdrawal names the time
    of what it withdraws.
    """
    base = f"{order_id}#{stream.value}#{time_ms}"
    if withdraws_ms is not None:
        base = f"{base}#withdraws:{withdraws_ms}"
    return base if key is None else f"{base}#{key}"


class OnlineFeatures:
    """Reads and updates entity states in the Feast online store.

    Every call to the store is bounded by `online_store_timeout_ms` and passes
    a circuit breaker, so a dead store costs one timeout, then nothing, until a
    probe finds it back.
    """

    def __init__(self, store: FeatureStore, settings: FeatureSettings | None = None) -> None:
        settings = settings or FeatureSettings()
        self._settings = settings
        self._rates = rates_for(settings)
        self._rates_due = time.monotonic() + RATES_CHECK_SECONDS
        self._states: RowStates = state_store(store, settings.online_store_timeout_ms / 1000)
        self.breaker = CircuitBreaker(
            settings.online_store_breaker_failures, settings.online_store_breaker_reset_seconds
        )
        self._stripes = [threading.Lock() for _ in range(LOCK_STRIPES)]
        self.lateness_ms = int(settings.online_lateness_seconds * 1000)
        self.write_budget_s = WRITE_BUDGET_TIMEOUTS * settings.online_store_timeout_ms / 1000
        self.state_lost = False
        """Whether the last answer of the store said its state was lost (`rebuild` clears it)."""

    @property
    def rates(self) -> RateTable:
        """Return the exchange rates amounts are converted with.

        The file is looked at once a second, not for every order: a changed one is read
        again (`rates_for`).
        """
        now = time.monotonic()
        if now >= self._rates_due:
            self._rates = rates_for(self._settings)
            self._rates_due = now + RATES_CHECK_SECONDS
        return self._rates

    @property
    def states(self) -> RowStates:
        """Return the state store itself, for rebuilds (not for the scoring path)."""
        return self._states

    def read_states(self, keys: Mapping[Entity, str], event: str | None = None) -> StatesRead:
        """Return the states of the given entities in one read, and whether `event` is in them."""
        return self._guarded(
            lambda: self._states.read(keys, event) if keys else StatesRead({}, False, {})
        )

    def applied(self, events: Sequence[str]) -> list[bool]:
        """Return, from one read, whether each event is recorded as applied in the store."""
        return self._guarded(lambda: self._states.applied(events))

    def checkpoint(self) -> None:
        """Do the online store's periodic upkeep (SQLite: checkpoint its WAL)."""
        self._states.checkpoint()

    def write_states(
        self,
        keys: Mapping[Entity, str],
        states: Mapping[Entity, EntityState],
        event: str | None = None,
        expect: Mapping[Entity, str | None] | None = None,
    ) -> None:
        """Store the states of the given entities in one write, with `event` as applied.

        With `expect`, only if they are still as read (else `StateConflict`).
        """
        self._guarded(lambda: self._states.write(keys, states, event, expect))

    def _guarded(self, call: Callable[[], T]) -> T:
        """Run one store call through the breaker; a lost state or a conflict is an answer."""

        def answered() -> T | OnlineStateLost | StateConflict:
            try:
                return call()
            except (OnlineStateLost, StateConflict) as answer:
                return answer

        try:
            result = self.breaker.call(answered)
        except BreakerOpen as error:
            raise OnlineStoreUnavailable(str(error)) from error
        if isinstance(result, StateConflict):
            raise result
        # A rebuild under way is not a loss to act on: another one would race it.
        self.state_lost = isinstance(result, OnlineStateLost) and not result.rebuilding
        if isinstance(result, OnlineStateLost):
            raise result
        return result

    @contextmanager
    def holding(
        self,
        order: Columns,
        stream: Stream,
        time_ms: int,
        key: str | None = None,
        withdraws_ms: int | None = None,
    ) -> Iterator[OrderFeatures]:
        """Read the order's entity states once and hold them until its event is recorded.

        While held, no other order, decline or label of this process touches those
        entities, so concurrent orders on one device see each other in turn, as
        they do offline. Other processes are not held back: the update is a
        conditional write that reads again and re-applies when another writer
        came first. A store that does not answer gives degraded features.
        The read also finds whether this very event was applied already (a write
        that timed out on the way back), so `record` never counts it twice.
        """
        keys = entity_keys(order)
        order = with_reporting_amount(order, self.rates)
        order_id = str(order["order_id"][0])
        id = event_id(order_id, stream, time_ms, key, withdraws_ms)
        event = Event(stream, time_ms, id, withdraws_ms)
        with self._locked(keys):
            read = StatesRead({}, False, {})
            part = None
            try:
                read = self.read_states(keys, event.id)
            except OnlineStateLost:
                part = STATE_LOST
            except OnlineStoreUnavailable:
                part = STORE_DOWN
            yield OrderFeatures(self, order, keys, read, part, event)

    def record(
        self,
        order: Columns,
        stream: Stream,
        time_ms: int,
        key: str | None = None,
        withdraws_ms: int | None = None,
    ) -> None:
        """Add one event of the order (placed, declined, fraud, withdrawn) to its entities' states.

        Once: the write records the event as applied, and a repeat finds it.
        """
        with self.holding(order, stream, time_ms, key, withdraws_ms) as held:
            held.record()

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

    def ping(self) -> str | None:
        """Return None if the online store answers with whole state, else the degraded part."""
        try:
            self.read_states({current().entities[0]: "__ping__"})
        except OnlineStateLost:
            return STATE_LOST
        except OnlineStoreUnavailable:
            return STORE_DOWN
        return None


class OrderFeatures:
    """One order's entity states as read, held by `OnlineFeatures.holding`."""

    def __init__(
        self,
        owner: OnlineFeatures,
        order: Columns,
        keys: Mapping[Entity, str],
        read: StatesRead,
        degraded_part: str | None,
        event: Event,
    ) -> None:
        self._owner = owner
        self._order = order
        self._keys = keys
        self._read = read
        self.degraded_part = degraded_part
        self._event = event

    @property
    def keys(self) -> Mapping[Entity, str]:
        """Return the entity keys the order names (what it links to other orders by)."""
        return self._keys

    def served(self, names: Sequence[str]) -> ServedFeatures:
        """Return the order's features in `names` order, evaluated at the order's time."""
        now = int(self._order["created_at"][0])
        wanted = set(names)
        states = self._read.states
        aggregates: dict[str, np.ndarray] = {}
        for entity, features in current().aggregates_of.items():
            asked = [f for f in features if f.name in wanted]
            if not asked:
                continue
            if entity in self._keys and self.degraded_part is None:
                column = np.array(evaluate_all(states.get(entity), asked, now))
            else:
                column = np.full(len(asked), np.nan)
            for index, feature in enumerate(asked):
                aggregates[feature.name] = column[index : index + 1]
        matrix = feature_matrix(self._order, aggregates, names)
        return ServedFeatures(names, matrix, self.degraded_part)

    def record(self) -> None:
        """Apply the held event to the states and write them, once, whoever else writes.

        Each try writes only if no other writer changed the states since they were
        read; one that did makes it read again (and find the event if a retry of it
        came first). A state contended past `WRITE_ATTEMPTS` tries, or past the write
        budget (two online-store timeouts), is reported as unavailable, so the update
        waits in the outbox instead of in the order.
        """
        if self.degraded_part is not None:
            raise OnlineStoreUnavailable("the order's entity states could not be read")
        row = {name: values[0] for name, values in self._order.items()}
        event, owner, read = self._event, self._owner, self._read
        give_up = time.monotonic() + owner.write_budget_s
        for _ in range(WRITE_ATTEMPTS):
            if read.applied:
                return
            for entity, state in read.states.items():
                apply_event(
                    state,
                    current().aggregates_of[entity],
                    event.stream,
                    event.time_ms,
                    row,
                    owner.lateness_ms,
                    event.withdraws_ms,
                )
            try:
                owner.write_states(self._keys, read.states, event.id, read.digests)
                return
            except StateConflict:
                if time.monotonic() > give_up:
                    break
                read = owner.read_states(self._keys, event.id)
        raise OnlineStoreUnavailable(f"entity states contended for {WRITE_ATTEMPTS} writes")
