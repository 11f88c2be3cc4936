"""The soak's count check: every scored entity's online order count against the truth.

For every customer and device a run scored, the online count of its orders
(the spec's all-time or longest-window order count of that entity, read after
the last order) must equal its orders in the prepared history plus its
decisions in the run's database. Short is a lost update, long a double count.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sqlalchemy import Engine, select

from features.catalog import current
from features.columns import moment_ms, to_columns
from features.offline import window_start
from features.online import OnlineFeatures
from features.schema import REQUIRED, conform
from features.spec import CUSTOMER, DEVICE, Agg, Aggregate, Entity, Stream
from features.state import evaluate
from features.state_stores import OnlineStoreUnavailable
from features.store import open_store
from service.persistence.tables import DecisionLinkRow, DecisionRow
from service.settings import ServiceSettings

CHECKED: tuple[Entity, ...] = (CUSTOMER, DEVICE)


def order_count(entity: Entity) -> Aggregate:
    """Return the entity's count of orders over all time, else over its longest window."""
    counts = [
        f
        for f in current().aggregates
        if f.entity == entity and f.agg is Agg.COUNT and f.stream is Stream.ORDERS
    ]
    return max(counts, key=lambda f: math.inf if f.window is None else f.window.total_seconds())


@dataclass(frozen=True)
class Events:
    """Orders of one entity kind: the entity key and the order time (epoch ms) of each."""

    keys: np.ndarray
    times: np.ndarray


def history_events(settings: ServiceSettings) -> dict[Entity, Events]:
    """Return the prepared history's orders per checked entity, as the snapshot counted them."""
    keys = [e.key for e in CHECKED]
    names = list(dict.fromkeys([*REQUIRED, *keys]))
    frame = conform(pd.read_parquet(settings.orders_path, columns=names))
    columns = to_columns(frame[["created_at", *keys]])
    return {e: Events(columns[e.key], columns["created_at"]) for e in CHECKED}


def run_events(engine: Engine) -> dict[Entity, Events]:
    """Return this run's decided orders per checked entity, with the keys the service used."""
    with engine.connect() as connection:
        customers = connection.execute(select(DecisionRow.customer_id, DecisionRow.created_at))
        found = {CUSTOMER: list(customers)}
        devices = select(DecisionLinkRow.key, DecisionLinkRow.created_at)
        found[DEVICE] = list(connection.execute(devices.where(DecisionLinkRow.kind == DEVICE.name)))
    return {
        entity: Events(
            np.array([key for key, _ in rows], dtype=object),
            np.array([moment_ms(at) for _, at in rows], dtype=float),
        )
        for entity, rows in found.items()
    }


@dataclass
class Drift:
    """Entities whose online order count is short of (lost) or over (double) the truth."""

    checked: Counter[str]
    lost: list[str]
    double: list[str]
    unreadable: list[str]


def check_counts(settings: ServiceSettings, engine: Engine) -> Drift:
    """Compare each scored entity's online order count with history + this run's decisions."""
    history, run = history_events(settings), run_events(engine)
    drift = Drift(Counter(), [], [], [])
    if not any(len(e.times) for e in run.values()):
        return drift
    t_end = int(max(np.nanmax(e.times) for e in (*history.values(), *run.values()))) + 1
    online = OnlineFeatures(open_store(settings))
    for entity in CHECKED:
        feature = order_count(entity)
        # A window read at t_end covers the orders from its first bucket on (all for all-time).
        start = -math.inf if feature.window is None else window_start(np.array([t_end]), feature)[0]
        keys = np.concatenate([history[entity].keys, run[entity].keys])
        times = np.concatenate([history[entity].times, run[entity].times])
        truth = Counter(keys[(times >= start) & pd.notna(keys)].tolist())
        for key in sorted({str(k) for k in run[entity].keys if k is not None}):
            try:
                state = online.read_states({entity: key}).states.get(entity)
            except OnlineStoreUnavailable as error:
                drift.unreadable.append(f"{entity.name}[{key}]: {error}")
                continue
            value = evaluate(state, feature, t_end)
            drift.checked[feature.name] += 1
            line = f"{feature.name}[{key}] online {value:.0f}, history + decisions {truth[key]}"
            if value < truth[key]:
                drift.lost.append(line)
            elif value > truth[key]:
                drift.double.append(line)
    return drift
