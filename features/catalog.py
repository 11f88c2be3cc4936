"""The whole feature catalogue: its order, its hash, and what a data set can support."""

from __future__ import annotations

import hashlib
import inspect
import json
from collections.abc import Iterable
from functools import cache

from features import derived
from features.aggregates import AGGREGATES
from features.columns import DECLINE_DELAY_MS
from features.currency import currency_spec
from features.derived import DERIVED
from features.ipclusters import HOSTING_AS_MARKERS, database_version
from features.spec import VALUE_SCALE, Agg, Aggregate, Derived, Family

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
            "cap": feature.cap if feature.agg is Agg.DISTINCT else None,
        }
    return {"name": feature.name, "needs": list(feature.needs)}


@cache
def spec_hash() -> str:
    """Return a short hash of everything a feature's value depends on (a model records its own).

    The declarations, the code of the request-time features, the decline delay,
    the value scales, the hosting-network markers, the IP database's version and
    the reporting currency with its rounding: a model trained under one of them
    and served under another is refused. The exchange rates are not covered: a
    new day's rate is data, like a new order, and leaves what an amount feature
    means (a total in the reporting currency, to its minor unit) unchanged, so
    appending rates never forces a retrain; another reporting currency does.
    """
    described = [_describe(f) for f in FEATURES]
    context = {
        "ip_clustering": IP_CLUSTERING,
        "ip_database": database_version(),
        "hosting_markers": list(HOSTING_AS_MARKERS),
        "decline_delay_ms": DECLINE_DELAY_MS,
        "value_scale": dict(VALUE_SCALE),
        "derived_code": hashlib.sha256(inspect.getsource(derived).encode()).hexdigest(),
        "currency": currency_spec(),
    }
    payload = json.dumps([context, *described], sort_keys=True).encode()
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
