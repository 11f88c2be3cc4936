"""Rebuild the online store's states after it lost them, while scoring goes on.

The store's marker first says `rebuilding`, so every process decides degraded
and queues its feature updates in the outbox instead of writing half-known
states. After a grace period (in-flight writes are bounded by the store's
timeout), the states are the last materialized snapshot plus every decision,
decline and fraud label stored since (`features.rebuild`). Queued updates of
orders whose events were read are already counted: they are marked done, the
rest are replayed by the outbox drainer. Then the marker says `ok` again under
a new epoch and the entity features are back.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine

from features.columns import moment_ms
from features.online import OnlineFeatures
from features.rebuild import Event, load_snapshot, rebuild_states
from features.spec import Stream
from features.store import epoch_now
from service.persistence import due_feature_updates, mark_feature_update
from service.persistence.history import decided_orders, later_events
from service.scoring.schemas import canonical_of
from service.settings import ServiceSettings

log = logging.getLogger(__name__)
# Queued updates read per step when settling the outbox after a rebuild.
OUTBOX_PAGE = 10_000


@dataclass(frozen=True)
class Rebuilt:
    """What a rebuild wrote: states per entity, orders it covered, queued updates it settled."""

    states: dict[str, int]
    orders: int
    settled: int
    seconds: float


def rebuild_online_state(
    settings: ServiceSettings,
    engine: Engine,
    features: OnlineFeatures,
    progress: Callable[[str], object] | None = None,
) -> Rebuilt:
    """Rebuild every entity's state: the last materialization, then the stored events since."""
    started = time.monotonic()
    states = features.states
    states.set_status("rebuilding")
    time.sleep(2 * settings.online_store_timeout_ms / 1000)
    queued = due_feature_updates(engine, OUTBOX_PAGE)  # before the events: all are in them
    events = stored_events(engine)
    written = rebuild_states(load_snapshot(settings), events, states, progress)
    covered = {event.order["order_id"] for event in events}
    settled = 0
    for update_id, payload in queued:
        if payload.get("order_id") in covered:
            mark_feature_update(engine, update_id, done=True, error="counted by a rebuild")
            settled += 1
    states.set_status("ok", epoch=epoch_now())
    features.state_lost = False
    return Rebuilt(written, len(covered), settled, time.monotonic() - started)


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
    for order_id, stream, known_at in later_events(engine):
        if order_id in orders:
            events.append(Event(moment_ms(known_at), stream, orders[order_id]))
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
            done = rebuild_online_state(self._settings, self._engine, self._features)
            log.warning(
                "online store rebuilt in %.1f s: %s states, %d queued updates settled",
                done.seconds,
                done.states,
                done.settled,
            )
        except Exception:  # the next probe that finds the state lost starts another
            log.exception("rebuilding the online store failed")
        finally:
            self._running.release()
