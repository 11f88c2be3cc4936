"""Which catalogue features a history cannot support, and the fields each one lacks.

`training.dataset.model_features` keeps the features whose fields the order log holds;
this says, for every other one, which of its fields (`Feature.needs`) are missing, down to
the order field when it needs another feature that is itself left out.
"""

from __future__ import annotations

import pandas as pd
import pyarrow.parquet as pq

from features.catalog import current
from features.columns import available
from models.settings import ModelSettings
from training.dataset import ENRICHED, model_features


def dropped_features(orders: pd.DataFrame) -> dict[str, list[str]]:
    """Return each feature these (enriched) orders cannot support, with the fields it lacks."""
    spec = current()
    used = model_features(orders)
    have = {*available(orders), *used}

    def lacking(name: str, seen: frozenset[str]) -> list[str]:
        missing: list[str] = []
        for need in spec.by_name[name].needs:
            # A need is an order field or another feature; some features share a field's name.
            if need in spec.by_name and need not in seen:
                missing += lacking(need, seen | {need})
            elif need not in have:
                missing.append(need)
        return list(dict.fromkeys(missing))

    return {
        f.name: lacking(f.name, frozenset({f.name})) for f in spec.features if f.name not in used
    }


def logged_dropped_features(settings: ModelSettings) -> dict[str, list[str]]:
    """Return `dropped_features` of the enriched order log, reading only fields features need."""
    spec = current()
    path = settings.data_dir.resolve() / ENRICHED
    needed = {need for f in spec.features for need in f.needs}
    columns = [name for name in pq.read_schema(path).names if name in needed]
    return dropped_features(pd.read_parquet(path, columns=columns))


def by_missing_fields(dropped: dict[str, list[str]]) -> dict[str, list[str]]:
    """Group dropped features by the fields they lack, the fields joined as one key."""
    groups: dict[str, list[str]] = {}
    for name, fields in dropped.items():
        groups.setdefault(", ".join(fields) or "?", []).append(name)
    return groups
