"""The whole feature catalogue: its order, its hash, and what a data set can support."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable

from features.aggregates import AGGREGATES
from features.derived import DERIVED
from features.spec import Aggregate, Derived, Family

# Bumped whenever the meaning of an IP cluster changes: models must be retrained.
IP_CLUSTERING = "asn-block-or-24-48/v2"

Feature = Aggregate | Derived
FEATURES: tuple[Feature, ...] = (*AGGREGATES, *DERIVED)
BY_NAME: dict[str, Feature] = {feature.name: feature for feature in FEATURES}


def _describe(feature: Feature) -> dict[str, object]:
    if isinstance(feature, Aggregate):
        return {
            "name": feature.name,
            "entity": feature.entity.key,
            "agg": feature.agg.value,
            "stream": feature.stream.value,
            "of": feature.of,
            "bucket_ms": feature.bucket_ms,
        }
    return {"name": feature.name, "needs": list(feature.needs)}


def spec_hash() -> str:
    """Return a short hash of every feature's definition (a model records its own)."""
    described = [_describe(f) for f in FEATURES]
    payload = json.dumps([IP_CLUSTERING, *described], sort_keys=True).encode()
    return hashlib.sha256(payload).hexdigest()[:16]


def supported(available_columns: Iterable[str]) -> tuple[str, ...]:
    """Return the names of the features computable from data that has these columns."""
    have = set(available_columns)
    names: list[str] = []
    for feature in FEATURES:
        if all(n in have or n in names for n in feature.needs):
            names.append(feature.name)
    return tuple(names)


def family(name: str) -> Family:
    """Return what a feature speaks of (an entity family, or the order itself)."""
    return BY_NAME[name].family
