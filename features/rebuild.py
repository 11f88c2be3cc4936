"""Rebuild the online store's states: the last materialized snapshot plus every event since.

The online state is derived data. `ordershield features materialize` loads the
offline snapshot, taken just after the order log's last event (`as_of`), and
from then on each scored order, decline and fraud label is applied by the
online path (`features.state.apply_event`). A store that lost its memory is
rebuilt the same way: the snapshot, then every later event in time order
through that very function, so the rebuilt states are the ones the store would
hold had it never lost anything. Events before `as_of` are in the snapshot
already and are skipped, so none counts twice.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import orjson
import pandas as pd

from features.catalog import current
from features.currency import RateTable
from features.online import event_id
from features.order_row import entity_keys, order_columns, with_reporting_amount
from features.repo import STATE_FIELD, TIMESTAMP_FIELD, state_path
from features.settings import FeatureSettings
from features.spec import Entity, Stream
from features.state import EntityState, apply_event
from features.state_stores import RowStates


@dataclass(frozen=True)
class Event:
    """One event of an order on one stream, at its own time (epoch ms)."""

    time_ms: int
    stream: Stream
    order: dict[str, Any]
    """The canonical order (times in epoch ms), as scoring built it."""
    key: str | None = None
    """The stored event's own id, where one order can have several at one moment."""
    withdraws_ms: int | None = None
    """The time of the order's event this one withdraws (a withdrawn fraud label)."""


@dataclass(frozen=True)
class Snapshot:
    """The materialized states and the moment they were taken (events before it are in)."""

    as_of_ms: int
    states: dict[Entity, dict[str, EntityState]]


def load_snapshot(settings: FeatureSettings) -> Snapshot:
    """Return the offline state snapshot `materialize` loads (empty if none was built)."""
    states: dict[Entity, dict[str, EntityState]] = {}
    as_of = 0
    for entity in current().entities:
        path = state_path(settings, entity)
        frame = pd.read_parquet(path) if path.exists() else pd.DataFrame()
        states[entity] = {
            str(key): orjson.loads(text)
            for key, text in zip(frame.get(entity.key, []), frame.get(STATE_FIELD, []), strict=True)
        }
        if len(frame):
            as_of = max(as_of, int(pd.Timestamp(frame[TIMESTAMP_FIELD].max()).value // 1_000_000))
    return Snapshot(as_of, states)


def rebuild_states(
    snapshot: Snapshot,
    events: Iterable[Event],
    states: RowStates,
    rates: RateTable,
    progress: Callable[[str], object] | None = None,
) -> dict[str, int]:
    """Apply the events at or after the snapshot to it, write every state; return counts.

    Each applied event is also recorded as applied, as the online path's write
    records it: a queued update of the same event, replayed later, then finds
    it and counts nothing again.
    """
    rebuilt = {entity: dict(found) for entity, found in snapshot.states.items()}
    by_entity = current().aggregates_of
    applied: list[str] = []
    for event in sorted(events, key=lambda e: e.time_ms):
        if event.time_ms < snapshot.as_of_ms:
            continue
        columns = with_reporting_amount(order_columns(event.order), rates)
        order_id = str(columns["order_id"][0])
        applied.append(
            event_id(order_id, event.stream, event.time_ms, event.key, event.withdraws_ms)
        )
        row = {name: values[0] for name, values in columns.items()}
        for entity, key in entity_keys(columns).items():
            state = rebuilt[entity].setdefault(key, {})
            apply_event(
                state,
                by_entity[entity],
                event.stream,
                event.time_ms,
                row,
                withdraws_ms=event.withdraws_ms,
            )
    written: dict[str, int] = {}
    for entity in current().entities:
        if progress:
            progress(entity.name)
        states.write_all(entity, rebuilt[entity])
        written[entity.name] = len(rebuilt[entity])
    states.mark_applied(applied)
    return written
