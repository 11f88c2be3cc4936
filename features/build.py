"""Compute the offline sources of the feature repo from the order log."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

from features.catalog import current
from features.columns import available, enrich, to_columns
from features.currency import rates_for
from features.offline import point_in_time
from features.repo import STATE_FIELD, TIMESTAMP_FIELD, aggregates_path, state_path
from features.settings import FeatureSettings
from features.snapshot import snapshot
from features.spec import Aggregate
from features.state import dumps

Progress = Callable[[str], None]


def write_order_log(orders: pd.DataFrame, settings: FeatureSettings) -> None:
    """Store canonical orders as the order log the features are computed from."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    orders.to_parquet(settings.orders_path, index=False)


def computable(orders: pd.DataFrame) -> tuple[Aggregate, ...]:
    """Return the aggregates whose source columns this order log has."""
    have = set(available(orders))
    return tuple(f for f in current().aggregates if all(n in have for n in f.needs))


def build_offline_sources(
    orders: pd.DataFrame, settings: FeatureSettings, progress: Progress | None = None
) -> dict[str, int]:
    """Write each entity's aggregates and state snapshot as parquet; return rows written.

    Aggregates that the log cannot support (no device column, say) are written as
    empty (NaN) columns so the Feast schema holds, and are left out of training.
    """
    settings.offline_dir.mkdir(parents=True, exist_ok=True)
    enriched = enrich(orders, rates_for(settings))
    columns = to_columns(enriched)
    supported = computable(enriched)
    values = point_in_time(columns, supported)
    as_of_ms = int(np.nanmax(columns["created_at"])) + 1
    as_of = pd.Timestamp(as_of_ms, unit="ms", tz="UTC")
    written: dict[str, int] = {}
    for entity in current().entities:
        if progress:
            progress(entity.name)
        keys = enriched[entity.key]
        mask = keys.notna().to_numpy()
        frame = pd.DataFrame(
            {
                entity.key: keys[mask].astype(str).to_numpy(),
                TIMESTAMP_FIELD: enriched["created_at"][mask].reset_index(drop=True),
            }
        )
        for feature in current().aggregates_of[entity]:
            column = values.get(feature.name, np.full(len(enriched), np.nan))
            frame[feature.name] = column[mask]
        # Orders of one entity at the same millisecond see the same past: keep one row.
        frame = frame.drop_duplicates([entity.key, TIMESTAMP_FIELD])
        frame.to_parquet(aggregates_path(settings, entity), index=False)
        states = snapshot(columns, entity, supported, as_of_ms)
        state_frame = pd.DataFrame(
            {
                entity.key: list(states),
                STATE_FIELD: [dumps(s) for s in states.values()],
                TIMESTAMP_FIELD: as_of,
            }
        )
        state_frame.to_parquet(state_path(settings, entity), index=False)
        written[entity.name] = len(frame)
    enriched.to_parquet(settings.data_dir.resolve() / "orders_enriched.parquet", index=False)
    return written
