"""The Feast feature store of OrderShield: apply, materialize, point-in-time retrieval."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pandas as pd
from feast import FeatureStore

from features.catalog import current
from features.repo import (
    FEATURE_SERVICE,
    TIMESTAMP_FIELD,
    definitions,
    state_path,
    state_view_name,
    write_repo,
)
from features.settings import FeatureSettings
from features.state_stores import state_store


class FeatureStoreError(RuntimeError):
    """Raised when the feature store is not ready for what was asked."""


def open_store(settings: FeatureSettings) -> FeatureStore:
    """Return the Feast store of the configured online store (writing its repo files)."""
    return FeatureStore(repo_path=str(write_repo(settings)))


def apply(settings: FeatureSettings) -> FeatureStore:
    """Register every entity, view, push source and the feature service with Feast."""
    store = open_store(settings)
    store.apply(definitions(settings))  # type: ignore[arg-type]
    # No state marker here: an applied repo over a store that restarted empty must
    # still read as lost. `materialize` (or a rebuild) marks the states whole.
    return store


def materialize(settings: FeatureSettings) -> int:
    """Load the state snapshot of every entity into the online store; return entities loaded."""
    missing = [e.name for e in current().entities if not state_path(settings, e).exists()]
    if missing:
        raise FeatureStoreError(
            f"no offline state for {', '.join(missing)}: run `ordershield features apply` first"
        )
    snapshots = [pd.read_parquet(state_path(settings, e)) for e in current().entities]
    stamps = [s[TIMESTAMP_FIELD].max() for s in snapshots if len(s)]
    if not stamps:
        _start_epoch(open_store(settings))
        return 0
    end = max(stamps).to_pydatetime() + timedelta(seconds=1)
    store = open_store(settings)
    store.materialize(
        start_date=datetime(1970, 1, 2, tzinfo=UTC),
        end_date=end,
        feature_views=[state_view_name(e) for e in current().entities],
    )
    _start_epoch(store)
    return sum(len(s) for s in snapshots)


def _start_epoch(store: FeatureStore) -> None:
    """Mark the online store's states as whole, as of now (see `features.state_stores`)."""
    state_store(store).set_status("ok", epoch=epoch_now())


def epoch_now() -> int:
    """Return a new epoch for the state marker: the time in epoch milliseconds."""
    return int(datetime.now(UTC).timestamp() * 1000)


def historical_features(store: FeatureStore, entity_rows: pd.DataFrame) -> pd.DataFrame:
    """Return each row's entity aggregates through Feast's point-in-time join.

    `entity_rows` has the entity keys and an `event_timestamp` per order; a key
    that is missing gives NaN features, as it does online.
    """
    service = store.get_feature_service(FEATURE_SERVICE)
    job = store.get_historical_features(entity_df=entity_rows, features=service)
    return job.to_df()
