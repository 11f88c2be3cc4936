"""Rebuild the online store's states after it lost them, while scoring goes on.

The store's marker first says `rebuilding`, so every process decides degraded
and queues its feature updates in the outbox instead of writing half-known
states. After a grace period longer than any order's span from its store read
to its writes, the states are the last materialized snapshot plus every
decision, decline and fraud label stored since (`features.rebuild`), each
event recorded as applied: the queued updates of those events, replayed by the
outbox drainer afterwards, find that record and count nothing again. Then the
marker says `ok` under a new epoch and the entity features are back.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from uuid import uuid4

from sqlalchemy import Engine

from features.columns import event_time_ms, moment_ms
from features.currency import rates_for
from features.online import OnlineFeatures
from features.rebuild import Event, load_snapshot, rebuild_states
from features.spec import Stream
from features.state_stores import state_store
from features.store import epoch_now, open_store
from service.persistence.history import decided_orders, later_events
from service.scoring.schemas import canonical_of
from service.settings import ServiceSettings

log = logging.getLogger(__name__)
# Beyond an order's longest read-to-write span, before the rebuild reads the events.
GRACE_MARGIN_S = 0.25
# A claim on the rebuild older than this is of a rebuild that died.
LEASE_S = 600.0


@dataclass(frozen=True)
class Rebuilt:
    """What a rebuild wrote: states per entity, the orders its events came from, its time."""

    states: dict[str, int]
    orders: int
    seconds: float


class RebuildTaken(RuntimeError):
    """Raised when another process holds the rebuild of the store."""


def rebuild_online_state(
    settings: ServiceSettings,
    engine: Engine,
    progress: Callable[[str], object] | None = None,
) -> Rebuilt:
    """Rebuild every entity's state: the last materialization, then the stored events since.

    Bulk work, so the store is opened with the bulk timeout, not the scoring
    path's. The rebuild is claimed in the marker (`owner`); of two processes
    that found the loss together, the one whose claim is still there after the
    grace period goes on, the other raises `RebuildTaken`. A claim older than
    `LEASE_S` is taken to be of a rebuild that died.
    """
    started = time.monotonic()
    states = state_store(open_store(settings), settings.redis_timeout_seconds)
    marker = states.marker()
    claimed = states.owner()
    if marker.status == "rebuilding" and claimed and not _expired(claimed):
        raise RebuildTaken(f"a rebuild is under way ({claimed})")
    owner = f"{epoch_now()}:{uuid4().hex}"
    states.set_status("rebuilding", owner=owner)
    # Every order that read the store before it said `rebuilding` has written its
    # decision (and its state, or its queued update) by now: its events are read below.
    time.sleep(grace_seconds(settings))
    if states.owner() != owner:
        raise RebuildTaken("another process claimed the rebuild")
    events = stored_events(engine)
    snapshot = load_snapshot(settings)
    written = rebuild_states(snapshot, events, states, rates_for(settings), progress)
    states.set_status("ok", epoch=epoch_now())
    orders = len({event.order["order_id"] for event in events})
    return Rebuilt(written, orders, time.monotonic() - started)


def grace_seconds(settings: ServiceSettings) -> float:
    """Return the longest an order can take from its store read to its store write, and more."""
    deadline = settings.decision_deadline_ms + settings.decision_write_timeout_ms
    return (deadline + 4 * settings.online_store_timeout_ms) / 1000 + GRACE_MARGIN_S


def _expired(owner: str) -> bool:
    claimed_ms = int(owner.split(":", 1)[0]) if owner.split(":", 1)[0].isdigit() else 0
    return epoch_now() - claimed_ms > LEASE_S * 1000


def stored_events(engine: Engine) -> list[Event]:
    """Return every decided order's events that count in the features, from the database."""
    orders: dict[str, dict[str, Any]] = {}
    events: list[Event] = []
    for decided in decided_orders(engine):
        canonical = canonical_of(decided.order, decided.decided_at)
        if canonical is None:
            continue  # an erased order no longer holds its entities
        orders[canonical["order_id"]] = canonical
        events.append(Event(int(canonical["created_at"]), Stream.ORDERS, canonical))
    for order_id, stream, known_at, key, withdraws in later_events(engine):
        if order_id in orders:
            order = orders[order_id]
            at = event_time_ms(stream, int(order["created_at"]), moment_ms(known_at))
            withdraws_ms = None if withdraws is None else moment_ms(withdraws)
            events.append(Event(at, stream, order, key, withdraws_ms))
    return events


class Rebuilder:
    """Runs at most one rebuild at a time in this process, in the background."""

    def __init__(self, settings: ServiceSettings, engine: Engine, features: OnlineFeatures) -> None:
        self._settings = settings
        self._engine = engine
        self._features = features
        self._running = threading.Lock()

    def start_if_lost(self) -> bool:
        """Start a rebuild in a thread of its own when the store said it lost its state."""
        if not self._features.state_lost or not self._running.acquire(blocking=False):
            return False
        threading.Thread(target=self._rebuild, name="rebuild", daemon=True).start()
        return True

    def _rebuild(self) -> None:
        try:
            log.warning("the online store lost its state: rebuilding it")
            done = rebuild_online_state(self._settings, self._engine)
            self._features.state_lost = False
            log.warning("online store rebuilt in %.1f s: %s states", done.seconds, done.states)
        except RebuildTaken as taken:
            log.info("not rebuilding the online store: %s", taken)
        except Exception:  # the next probe that finds the state lost starts another
            log.exception("rebuilding the online store failed")
        finally:
            self._running.release()
