"""A store that lost its memory is noticed, answered around, and rebuilt to the exact state."""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any

import pandas as pd
import redis
from fastapi.testclient import TestClient

from features.aggregates import AGGREGATES
from features.online import OnlineFeatures
from features.order_row import entity_keys, order_columns, with_reporting_amount
from features.spec import Entity, Stream
from features.state import EntityState, apply_event, evaluate
from features.store import materialize, open_store
from service.cli.local_redis import RedisServer
from service.persistence import due_feature_updates, make_engine
from service.scoring.schemas import Order
from tests.service.clients import api_client
from tests.service.conftest import prepared_settings
from training.sources.payloads import order_payload

HOUR_MS = 3_600_000


def canonical(payload: dict[str, Any]) -> dict[str, Any]:
    return Order.model_validate(payload).canonical(pd.Timestamp.now(tz="UTC").to_pydatetime())


def read_all(features: OnlineFeatures, keys: set[tuple[Entity, str]]) -> dict[Any, EntityState]:
    return {(e, k): features.read_states({e: k}).states[e] for e, k in keys}


def values_at(states: dict[Any, EntityState], times: list[int]) -> dict[Any, float]:
    """Every aggregate of every entity, read at each time: what a model would be given."""
    out = {}
    for (entity, key), state in states.items():
        for feature in AGGREGATES:
            if feature.entity == entity:
                for t in times:
                    out[(entity.name, key, feature.name, t)] = evaluate(state, feature, t)
    return out


def same(left: dict[Any, float], right: dict[Any, float]) -> list[Any]:
    return [
        k
        for k in left
        if not (left[k] == right[k] or (math.isnan(left[k]) and math.isnan(right[k])))
    ]


def wait_ready(client: TestClient, seconds: float = 30.0) -> dict[str, Any]:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        body: dict[str, Any] = client.get("/readyz").json()
        if body["status"] == "ready":
            return body
        time.sleep(0.1)
    raise AssertionError(f"not ready after {seconds} s: {body}")


def test_an_emptied_store_is_noticed_and_rebuilt_exactly(
    own_redis: RedisServer, tmp_path: Path, stream: pd.DataFrame
) -> None:
    settings = prepared_settings(tmp_path / "data", stream.iloc[:300], "redis", own_redis.url)
    settings = settings.model_copy(update={"health_probe_seconds": 0.1})
    materialize(settings)
    # Orders that share customers, devices and cards with the history and with each other.
    payloads = [dict(order_payload(stream.iloc[i]), order_id=f"live-{i}") for i in range(300, 400)]
    lost_order = dict(order_payload(stream.iloc[400]), order_id="while-lost")
    with api_client(settings) as client:
        for payload in payloads:
            assert client.post("/v1/orders/score", json=payload).status_code == 200
        fraud = {"order_id": "live-310", "label": "fraud", "known_at": payloads[20]["created_at"]}
        assert client.post("/v1/labels", json=fraud).status_code == 200
        features = OnlineFeatures(open_store(settings), settings)
        keys = {
            item
            for p in [*payloads, lost_order]
            for item in entity_keys(order_columns(canonical(p))).items()
        }
        assert len(keys) > 100, "the orders must name many entities"
        before = read_all(features, keys)

        redis.Redis.from_url(own_redis.url).flushall()
        during = client.post("/v1/orders/score", json=lost_order)
        assert during.status_code == 200, during.text
        assert during.json()["degraded_parts"] == ["online_state_lost"]
        assert during.json()["fail_policy"] == "model"
        assert client.get("/readyz").json()["status"] in ("degraded", "ready")

        wait_ready(client)
        engine = make_engine(settings.db_url)
        deadline = time.monotonic() + 10
        while due_feature_updates(engine) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert due_feature_updates(engine) == []
        after = read_all(features, keys)

    # What the states must be: those the online path had built, plus the order decided
    # while the store was lost, applied once by the online path's own update.
    lost = with_reporting_amount(order_columns(canonical(lost_order)), features.rates)
    row = {name: values[0] for name, values in lost.items()}
    expected = {k: dict(v) for k, v in before.items()}
    time_ms = int(row["created_at"])
    for (entity, key), state in expected.items():
        if entity_keys(order_columns(canonical(lost_order))).get(entity) == key:
            apply_event(
                state, [f for f in AGGREGATES if f.entity == entity], Stream.ORDERS, time_ms, row
            )
    last = max(int(order_columns(canonical(p))["created_at"][0]) for p in [*payloads, lost_order])
    times = [last + 1, last + HOUR_MS, last + 24 * HOUR_MS, last + 30 * 24 * HOUR_MS]
    differ = same(values_at(expected, times), values_at(after, times))
    exp, aft = values_at(expected, times), values_at(after, times)
    assert differ == [], [(k, exp[k], aft[k]) for k in differ[:10]]
    assert any(v > 0 for v in values_at(after, times).values())
