"""Outages and model swaps: nothing crashes, nothing acknowledged is lost, nothing is dropped."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any, cast

import pandas as pd
from fastapi.testclient import TestClient

from service.cli.local_redis import RedisServer
from service.persistence import decision_by_order, due_feature_updates, make_engine
from service.settings import ServiceSettings
from tests.service.clients import api_client
from tests.service.conftest import prepared_settings
from tests.tiny_model import tiny_champion
from training.sources.payloads import order_payload


def test_redis_outage_degrades_scoring_and_loses_no_update(
    own_redis: RedisServer, tmp_path: Path, stream: pd.DataFrame
) -> None:
    settings = prepared_settings(tmp_path / "data", stream.iloc[:100], "redis", own_redis.url)
    settings = settings.model_copy(update={"outbox_retry_seconds": 0.2})
    rows = [order_payload(stream.iloc[i]) for i in range(100, 104)]
    with api_client(settings) as client:
        assert client.post("/v1/orders/score", json=rows[0]).json()["degraded"] is False
        own_redis.stop()
        during = client.post("/v1/orders/score", json=rows[1])
        assert during.status_code == 200, during.text
        assert during.json()["degraded"] is True
        assert during.json()["degraded_parts"] == ["online_store"]
        ready = client.get("/readyz")
        # Degraded, not down: the instance still decides orders, so it stays in rotation.
        assert ready.status_code == 200 and ready.json()["status"] == "degraded", ready.text
        engine = make_engine(settings.db_url)
        assert decision_by_order(engine, rows[1]["order_id"]) is not None
        owed = [p["order_id"] for _, p in due_feature_updates(engine)]
        assert rows[1]["order_id"] in owed
        own_redis.start()
        for _ in range(100):
            if not due_feature_updates(engine):
                break
            time.sleep(0.1)
        assert due_feature_updates(engine) == []
        assert client.get("/readyz").status_code == 200
        # The queued order now counts for the next order of the same customer.
        follow = dict(
            rows[2],
            customer=rows[1]["customer"],
            order_id="after-outage",
            created_at=rows[2]["created_at"],
        )
        client.post("/v1/orders/score", json=follow)
        record = decision_by_order(engine, "after-outage")
        assert record is not None and cast(float, record.features["customer_orders"]) >= 1


def test_reloading_the_model_during_traffic_drops_nothing(
    tmp_path: Path, stream: pd.DataFrame
) -> None:
    settings = prepared_settings(tmp_path, stream.iloc[:100])
    statuses: list[int] = []
    versions: set[str] = set()
    stop = threading.Event()

    def traffic(client: TestClient, offset: int) -> None:
        row = 100 + offset
        while not stop.is_set() and row < len(stream):
            response = client.post("/v1/orders/score", json=order_payload(stream.iloc[row]))
            statuses.append(response.status_code)
            if response.status_code == 200:
                versions.add(response.json()["model"]["version"])
            row += 4

    with api_client(settings) as client:
        workers = [threading.Thread(target=traffic, args=(client, i)) for i in range(4)]
        for worker in workers:
            worker.start()
        for seed in (1, 2):
            time.sleep(1.0)
            tiny_champion(settings, seed=seed)
            reload = client.post("/v1/admin/model/reload")
            assert reload.status_code == 200, reload.text
        time.sleep(1.0)
        stop.set()
        for worker in workers:
            worker.join()
    assert statuses and set(statuses) == {200}
    assert len(versions) >= 2


def test_labels_and_payment_outcomes_feed_the_features(
    client: TestClient, settings: ServiceSettings, stream: pd.DataFrame
) -> None:
    first = order_payload(stream.iloc[150])
    first["order_id"] = "label-first"
    second = dict(
        order_payload(stream.iloc[151]),
        order_id="label-second",
        customer=first["customer"],
        payment=first["payment"],
    )
    later = pd.Timestamp(first["created_at"]) + pd.Timedelta(minutes=5)
    second["created_at"] = (later + pd.Timedelta(minutes=5)).isoformat()
    client.post("/v1/orders/score", json=first)
    unknown = client.post("/v1/labels", json={"order_id": "never-scored", "label": "fraud"})
    assert unknown.status_code == 404 and unknown.json()["error"] == "not_found"
    bad = client.post("/v1/labels", json={"order_id": "label-first", "label": "maybe"})
    assert bad.status_code == 422 and bad.json()["detail"][0]["field"] == "label"
    label = {
        "order_id": "label-first",
        "label": "fraud",
        "reason": "chargeback",
        "known_at": later.isoformat(),
    }
    first_label = client.post("/v1/labels", json=label).json()
    assert first_label["applied_to_features"] is True
    assert client.post("/v1/labels", json=label).json() == first_label  # a retry: one event
    again = {**label, "known_at": (later + pd.Timedelta(minutes=1)).isoformat()}
    assert client.post("/v1/labels", json=again).json()["applied_to_features"] is False
    declined = client.post(
        "/v1/orders/label-first/payment", json={"status": "declined", "known_at": later.isoformat()}
    )
    assert declined.status_code == 200
    client.post("/v1/orders/score", json=second)
    record: Any = decision_by_order(make_engine(settings.db_url), "label-second")
    assert record.features["customer_fraud"] == 1
    assert record.features["payment_declines_1h"] == 1


def test_the_open_fail_policy_approves_without_holding_stock(
    own_redis: RedisServer, tmp_path: Path, stream: pd.DataFrame
) -> None:
    settings = prepared_settings(tmp_path / "data", stream.iloc[:100], "redis", own_redis.url)
    settings = settings.model_copy(update={"fail_policy": "open"})
    own_redis.stop()
    with api_client(settings) as client:
        answer = client.post("/v1/orders/score", json=order_payload(stream.iloc[120])).json()
    assert answer["degraded"] and answer["fail_policy"] == "open", answer
    assert answer["action"] == "approve" and answer["stock"]["freeze"] is False
    assert answer["rules"][0]["text"].endswith("approved, flagged for a later review")
