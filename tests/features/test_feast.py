"""The generated Feast repo: apply, materialize (SQLite and Redis), point-in-time retrieval."""

from __future__ import annotations

import math
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from feast import FeatureStore

from features.aggregates import AGGREGATES
from features.build import build_offline_sources
from features.columns import enrich, to_columns
from features.offline import point_in_time
from features.repo import STATE_FIELD, TIMESTAMP_FIELD, state_view_name
from features.settings import FeatureSettings
from features.snapshot import snapshot
from features.spec import ENTITIES, Entity
from features.state import evaluate, loads
from features.state_stores import RedisStates, SqliteStates, StatesRead, state_store
from features.store import apply, historical_features, materialize, open_store
from tests.features.eventlog import random_orders


@pytest.fixture(scope="module")
def orders() -> pd.DataFrame:
    return random_orders(2500, seed=11)


@pytest.fixture(params=["sqlite", "redis"])
def settings(
    request: pytest.FixtureRequest, tmp_path: Path, orders: pd.DataFrame
) -> FeatureSettings:
    extra = {}
    if request.param == "redis":
        extra["redis_url"] = request.getfixturevalue("redis_url")
    settings = FeatureSettings(data_dir=tmp_path, online_store=request.param, **extra)
    build_offline_sources(orders, settings)
    apply(settings)
    materialize(settings)
    return settings


def test_historical_retrieval_equals_the_offline_aggregation(
    settings: FeatureSettings, orders: pd.DataFrame
) -> None:
    enriched = enrich(orders)
    expected = point_in_time(to_columns(enriched), AGGREGATES)
    sample = enriched.sample(300, random_state=1)
    rows = sample[["order_id", *(e.key for e in ENTITIES)]].astype(object)
    rows[TIMESTAMP_FIELD] = sample["created_at"].to_numpy()
    got = (
        historical_features(open_store(settings), rows)
        .set_index("order_id")
        .loc[sample["order_id"]]
    )
    positions = sample.index.to_numpy()
    compared = 0
    for feature in AGGREGATES:
        want = expected[feature.name][positions]
        have = got[feature.name].to_numpy(dtype=float)
        np.testing.assert_allclose(
            have, want, rtol=0, atol=1e-9, equal_nan=True, err_msg=feature.name
        )
        compared += int(np.isfinite(want).sum())
    assert compared > 5000


def test_materialized_state_serves_the_snapshot(
    settings: FeatureSettings, orders: pd.DataFrame
) -> None:
    loaded = materialize(settings)
    assert loaded > 0
    store = open_store(settings)
    columns = to_columns(enrich(orders))
    as_of = int(np.nanmax(columns["created_at"])) + 1
    for entity in ENTITIES:
        expected = snapshot(columns, entity, AGGREGATES, as_of)
        keys = sorted(expected)[:5]
        response = store.get_online_features(
            features=[f"{state_view_name(entity)}:{STATE_FIELD}"],
            entity_rows=[{entity.key: key} for key in keys],
        ).to_dict()
        for key, text in zip(keys, response[STATE_FIELD], strict=True):
            served = loads(text)
            for feature in (f for f in AGGREGATES if f.entity == entity):
                a = evaluate(served, feature, as_of + 60_000)
                b = evaluate(expected[key], feature, as_of + 60_000)
                assert (math.isnan(a) and math.isnan(b)) or a == b, (entity.name, key, feature.name)


def test_materialize_before_apply_is_a_clear_error(tmp_path: Path) -> None:
    from features.store import FeatureStoreError

    with pytest.raises(FeatureStoreError, match="features apply"):
        materialize(FeatureSettings(data_dir=tmp_path))


def _feast_states(store: FeatureStore, entity: Entity, keys: list[str]) -> list[str | None]:
    return [text for text, _ in _feast_rows(store, entity, keys)]


def _feast_rows(
    store: FeatureStore, entity: Entity, keys: list[str]
) -> list[tuple[str | None, int | None]]:
    """Return each key's state text and event time (epoch seconds) as Feast serves them."""
    response = store.get_online_features(
        features=[f"{state_view_name(entity)}:{STATE_FIELD}"],
        entity_rows=[{entity.key: key} for key in keys],
    ).to_dict(include_event_timestamps=True)
    return list(zip(response[STATE_FIELD], response[f"{STATE_FIELD}__ts"], strict=True))


def test_state_store_reads_and_overwrites_what_feast_materialized(
    settings: FeatureSettings, orders: pd.DataFrame
) -> None:
    materialize(settings)
    store = open_store(settings)
    order = enrich(orders).iloc[-1]
    keys = {e: str(order[e.key]) for e in ENTITIES}
    states = state_store(store)
    read = states.read(keys).states
    assert set(read) == set(ENTITIES)
    for entity, key in keys.items():
        (text,) = _feast_states(store, entity, [key])
        assert read[entity] == loads(text) != {}, entity.name
    assert states.read({ENTITIES[0]: "never-seen"}) == StatesRead(
        {ENTITIES[0]: {}}, False, {ENTITIES[0]: None}
    )
    for state in read.values():
        state["marker"] = 1
    states.write(keys, read)
    for entity, key in keys.items():
        assert [loads(t) for t in _feast_states(store, entity, [key])] == [read[entity]]


def test_feast_serves_what_the_state_store_wrote(settings: FeatureSettings) -> None:
    store = open_store(settings)
    states = state_store(store)
    assert isinstance(states, {"sqlite": SqliteStates, "redis": RedisStates}[settings.online_store])
    keys = {e: f"{e.name}-new" for e in ENTITIES}
    for version in (1, 2):  # a new row, then one over it
        written = {e: {"marker": [version, e.name]} for e in ENTITIES}
        states.write(keys, written)
        assert states.read(keys).states == written
        for entity, key in keys.items():
            ((text, event_time),) = _feast_rows(store, entity, [key])
            assert loads(text) == written[entity]
            assert event_time is not None
            assert abs(event_time - time.time()) < 60
    states.checkpoint()
    assert states.read(keys).states == written
