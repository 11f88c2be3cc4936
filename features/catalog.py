"""The whole feature catalogue: its order, its hash, and what a data set can support."""

from __future__ import annotations

import hashlib
import inspect
import json
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cache, cached_property
from pathlib import Path

from features import derived
from features.aggregates import AGGREGATES
from features.columns import DECLINE_DELAY_MS
from features.currency import currency_spec
from features.derived import DERIVED
from features.ipclusters import HOSTING_AS_MARKERS, database_version
from features.pack import Pack, load_pack
from features.pack_schema import Kind
from features.schema import Column
from features.settings import PREFIX, FeatureSettings
from features.spec import ENTITIES, VALUE_SCALE, Agg, Aggregate, Derived, Entity, Family

# Bumped whenever the meaning of an IP cluster changes: models must be retrained.
IP_CLUSTERING = "asn-block-or-24-48/v2"

Feature = Aggregate | Derived
PACK_VARIABLE = f"{PREFIX}FEATURE_PACK"


@dataclass(frozen=True, eq=False)
class Spec:
    """The features in use: the built-in ones and those of the active feature pack."""

    pack: Pack | None

    @cached_property
    def entities(self) -> tuple[Entity, ...]:
        """Return every entity features aggregate over."""
        return (*ENTITIES, *(self.pack.entities if self.pack else ()))

    @cached_property
    def aggregates(self) -> tuple[Aggregate, ...]:
        """Return every aggregate feature, the built-in ones first."""
        return (*AGGREGATES, *(self.pack.aggregates if self.pack else ()))

    @cached_property
    def derived(self) -> tuple[Derived, ...]:
        """Return every request-time feature, in the order they are computed."""
        return (*DERIVED, *(self.pack.derived if self.pack else ()))

    @cached_property
    def features(self) -> tuple[Feature, ...]:
        """Return the whole catalogue in its order."""
        return (*self.aggregates, *self.derived)

    @cached_property
    def by_name(self) -> Mapping[str, Feature]:
        """Return every feature by its name."""
        return {feature.name: feature for feature in self.features}

    @cached_property
    def aggregates_of(self) -> Mapping[Entity, tuple[Aggregate, ...]]:
        """Return each entity's aggregates (the features its online state serves)."""
        return {e: tuple(f for f in self.aggregates if f.entity == e) for e in self.entities}

    @property
    def extra_columns(self) -> tuple[Column, ...]:
        """Return the order columns the pack adds to the canonical ones."""
        return self.pack.columns if self.pack else ()

    @cached_property
    def extra_kinds(self) -> Mapping[str, Kind]:
        """Return the pack's columns by name, with the kind each holds (text, number, flag)."""
        return dict(self.pack.declared.columns) if self.pack else {}

    @cached_property
    def extra_text(self) -> frozenset[str]:
        """Return the pack's text columns (kept as text, not numbers, in a one-order batch)."""
        return frozenset(name for name, kind in self.extra_kinds.items() if kind == "text")


@cache
def current() -> Spec:
    """Return the features in use, with the pack `ORDERSHIELD_FEATURE_PACK` names if any."""
    path = FeatureSettings().feature_pack
    return Spec(None if path is None else load_pack(path))


def use_pack(path: Path | None) -> Spec:
    """Make a feature pack (or none) the one in use by this process and those it starts.

    A pack that does not load (`FeaturePackError`) leaves the one in use as it was.
    """
    if path is None:
        os.environ.pop(PACK_VARIABLE, None)
    else:
        load_pack(path)  # refused before anything changes
        os.environ[PACK_VARIABLE] = str(path.resolve())
    current.cache_clear()
    spec_hash.cache_clear()
    return current()


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
    spec = current()
    described = [_describe(f) for f in spec.features]
    context = {
        "feature_pack": spec.pack.describe() if spec.pack else None,
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
    for feature in current().features:
        if all(n in have or n in names for n in feature.needs):
            names.append(feature.name)
    return tuple(names)


def family(name: str) -> Family:
    """Return what a feature speaks of (an entity family, or the order itself)."""
    return current().by_name[name].family
