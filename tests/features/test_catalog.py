"""What the spec hash covers: a change to anything a feature's value depends on changes it."""

from __future__ import annotations

import dataclasses
import inspect

import pytest

from features import catalog, derived
from features.aggregates import AGGREGATES
from features.catalog import spec_hash


def _fresh() -> str:
    return spec_hash.__wrapped__()


@pytest.mark.parametrize(
    ("module", "name", "value"),
    [
        (catalog, "DECLINE_DELAY_MS", 60_000),
        (catalog, "VALUE_SCALE", {"amount": 1000}),
        (catalog, "HOSTING_AS_MARKERS", ("AMAZON",)),
        (catalog, "database_version", lambda: "geoip2fast-0:other"),
        (catalog, "IP_CLUSTERING", "other"),
    ],
)
def test_the_hash_covers_what_values_depend_on(
    monkeypatch: pytest.MonkeyPatch, module: object, name: str, value: object
) -> None:
    before = _fresh()
    monkeypatch.setattr(module, name, value)
    assert _fresh() != before


def test_the_hash_covers_the_code_of_request_time_features(monkeypatch: pytest.MonkeyPatch) -> None:
    before = _fresh()
    source = inspect.getsource(derived)
    monkeypatch.setattr(inspect, "getsource", lambda _: source.replace("/ 15.0", "/ 14.0"))
    assert _fresh() != before


def test_the_hash_covers_a_distinct_count_cap(monkeypatch: pytest.MonkeyPatch) -> None:
    before = _fresh()
    first = next(f for f in AGGREGATES if f.name == "device_accounts_1h")
    capped = dataclasses.replace(first, cap=8)
    spec = catalog.Spec(None)
    spec.__dict__["aggregates"] = tuple(capped if f is first else f for f in spec.aggregates)
    monkeypatch.setattr(catalog, "current", lambda: spec)
    assert _fresh() != before
