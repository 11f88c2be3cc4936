"""Feature vectors: aggregates and request-time features laid out in a model's order."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from features.catalog import current
from features.spec import Aggregate, Columns


def feature_matrix(
    columns: Columns, aggregates: Mapping[str, np.ndarray], names: Sequence[str]
) -> np.ndarray:
    """Return the rows x features matrix for `names`, computing request-time features.

    `columns` are the orders' own columns, `aggregates` their entity aggregates
    (from Feast offline, or evaluated from online state).
    """
    known: dict[str, np.ndarray] = {**columns, **aggregates}
    out = np.empty((len(columns["created_at"]), len(names)))
    by_name = current().by_name
    for j, name in enumerate(names):
        feature = by_name[name]
        if not isinstance(feature, Aggregate) and name not in aggregates:
            known[name] = np.asarray(feature.compute(known), dtype=float)
        out[:, j] = known[name]
    return out
