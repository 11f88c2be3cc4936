"""The training frame: orders, their features through Feast's point-in-time join, labels."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from features.build import computable
from features.catalog import current, supported
from features.columns import available, to_columns
from features.repo import TIMESTAMP_FIELD, aggregates_path
from features.spec import Columns
from features.store import FeatureStoreError, historical_features, open_store
from features.vector import feature_matrix
from models.settings import ModelSettings

ENRICHED = "orders_enriched.parquet"


@dataclass(frozen=True)
class TrainingFrame:
    """One row per labelled order: its features, label, scenario and time."""

    features: list[str]
    matrix: np.ndarray
    request_matrix: np.ndarray
    """The same rows as the service builds them when the online store cannot answer:
    every entity aggregate missing, request-time features only."""
    labels: np.ndarray
    scenarios: pd.Series
    created_at: pd.Series
    order_ids: pd.Series


def load_enriched(settings: ModelSettings) -> pd.DataFrame:
    """Return the enriched order log the offline sources were built from."""
    path = settings.data_dir.resolve() / ENRICHED
    missing = [e.name for e in current().entities if not aggregates_path(settings, e).exists()]
    if not path.exists() or missing:
        raise FeatureStoreError("no offline features yet: run `ordershield features apply` first")
    return pd.read_parquet(path)


def model_features(orders: pd.DataFrame) -> list[str]:
    """Return the features this order log supports (what it lacks stays out, never faked)."""
    aggregates = {f.name for f in computable(orders)}
    names = supported([*available(orders), *aggregates])
    every_aggregate = {f.name for f in current().aggregates}
    return [n for n in names if n in aggregates or n not in every_aggregate]


def training_frame(
    settings: ModelSettings, start: pd.Timestamp | None = None, end: pd.Timestamp | None = None
) -> TrainingFrame:
    """Join every labelled order in [start, end) to its features through Feast."""
    orders = load_enriched(settings)
    labelled = orders[orders["label"].notna()]
    if start is not None:
        labelled = labelled[labelled["created_at"] >= start]
    if end is not None:
        labelled = labelled[labelled["created_at"] < end]
    if labelled.empty:
        raise ValueError("no labelled orders in the requested range")
    keys = [e.key for e in current().entities]
    entity_rows = labelled[["order_id", *keys]].astype(object).copy()
    entity_rows[TIMESTAMP_FIELD] = labelled["created_at"].to_numpy()
    joined = historical_features(open_store(settings), entity_rows).set_index("order_id")
    joined = joined.loc[labelled["order_id"]]
    names = model_features(orders)
    aggregates = {
        f.name: joined[f.name].to_numpy(dtype=float)
        for f in current().aggregates
        if f.name in names
    }
    labelled = labelled.reset_index(drop=True)
    return frame_of(labelled, to_columns(labelled), aggregates, names)


def frame_of(
    orders: pd.DataFrame, columns: Columns, aggregates: dict[str, np.ndarray], names: list[str]
) -> TrainingFrame:
    """Return the frame of these (enriched) orders, `columns` their arrays, from their
    aggregates: the model's features in `names` order, and the same rows as scored when
    the online store cannot answer."""
    missing = {name: np.full(len(orders), np.nan) for name in aggregates}
    return TrainingFrame(
        features=names,
        matrix=feature_matrix(columns, aggregates, names),
        request_matrix=feature_matrix(columns, missing, names),
        labels=orders["label"].to_numpy(dtype=float, na_value=np.nan),
        scenarios=orders["scenario"].reset_index(drop=True),
        created_at=orders["created_at"].reset_index(drop=True),
        order_ids=orders["order_id"].reset_index(drop=True),
    )
