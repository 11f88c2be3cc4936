"""POST /v1/orders/score end to end: decision shape, tiers, idempotency, SHAP, bad input."""

from __future__ import annotations

import copy
import json
import threading
from typing import Any, cast

import numpy as np
import pandas as pd
import pytest
import shap
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, func, select

from models.registry import load_scorer, promote
from models.scorer import Thresholds
from service.persistence import decision_by_order, make_engine
from service.persistence.tables import DecisionRow as Decision
from service.persistence.tables import ReviewCaseRow as ReviewCase
from service.settings import ServiceSettings
from tests.tiny_model import tiny_champion
from training.sources.payloads import order_payload


@pytest.fixture()
def order(stream: pd.DataFrame) -> dict[str, Any]:
    payload = order_payload(stream.iloc[300])
    payload["order_id"] = f"t-{np.random.default_rng().integers(1 << 40)}"
    return payload


def count(settings: ServiceSettings, table: type[Decision | ReviewCase], order_id: str) -> int:
    engine = create_engine(settings.db_url)
    with engine.connect() as connection:
        return int(
            connection.execute(
                select(func.count()).select_from(table).where(table.order_id == order_id)
            ).scalar_one()
        )


def test_a_scored_order_gets_a_full_decision(client: TestClient, order: dict[str, Any]) -> None:
    response = client.post("/v1/orders/score", json=order)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["order_id"] == order["order_id"]
    assert 0 <= body["score"] <= 1
    assert body["tier"] in {"low", "medium", "high", "critical"}
    expected_action = {
        "low": "approve",
        "medium": "approve",
        "high": "review",
        "critical": "decline",
    }
    assert body["action"] == expected_action[body["tier"]]
    assert body["stock"]["freeze"] == (body["tier"] in {"high", "critical"})
    assert body["model"]["name"] == "ordershield" and body["feature_spec"]["hash"]
    assert body["rules"] == [] and body["degraded"] is False and body["latency_ms"] > 0
    for reason in body["reasons"]:
        assert reason["contribution"] > 0 and reason["text"]
    stored = client.get(f"/v1/orders/{order['order_id']}/decision")
    assert stored.status_code == 200 and stored.json() == body


@pytest.mark.parametrize(
    ("cuts", "tier", "action", "freeze", "case"),
    [
        (Thresholds(1.0, 1.0, 1.0), "low", "approve", False, 0),
        (Thresholds(0.0, 1.0, 1.0), "medium", "approve", False, 0),
        (Thresholds(0.0, 0.0, 1.0), "high", "review", True, 1),
        (Thresholds(0.0, 0.0, 0.0), "critical", "decline", True, 0),
    ],
)
def test_tier_policy(
    client: TestClient,
    settings: ServiceSettings,
    order: dict[str, Any],
    cuts: Thresholds,
    tier: str,
    action: str,
    freeze: bool,
    case: int,
) -> None:
    serving = client.post("/v1/admin/model/reload").json()["version"]
    tiny_champion(settings, thresholds=cuts)
    try:
        assert client.post("/v1/admin/model/reload").status_code == 200
        body = client.post("/v1/orders/score", json=order).json()
    finally:
        promote(settings, serving)
        client.post("/v1/admin/model/reload")
    assert (body["tier"], body["action"], body["stock"]["freeze"]) == (tier, action, freeze)
    assert count(settings, ReviewCase, order["order_id"]) == case


def test_the_same_order_id_returns_the_stored_decision(
    client: TestClient, settings: ServiceSettings, order: dict[str, Any]
) -> None:
    first = client.post("/v1/orders/score", json=order).json()
    again = client.post("/v1/orders/score", json=copy.deepcopy(order))
    assert again.status_code == 200 and again.json() == first
    changed = copy.deepcopy(order)
    changed["amount"] = "99999.00"
    refused = client.post("/v1/orders/score", json=changed)
    assert refused.status_code == 409, refused.text
    assert refused.json()["decision_id"] == first["decision_id"]
    assert count(settings, Decision, order["order_id"]) == 1


def test_concurrent_calls_with_one_order_id_make_one_decision(
    client: TestClient, settings: ServiceSettings, order: dict[str, Any]
) -> None:
    answers: list[dict[str, Any]] = []

    def call() -> None:
        answers.append(client.post("/v1/orders/score", json=order).json())

    threads = [threading.Thread(target=call) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len({a["decision_id"] for a in answers}) == 1
    assert count(settings, Decision, order["order_id"]) == 1


def test_concurrent_orders_on_one_device_all_count_and_never_see_later_ones(
    client: TestClient, settings: ServiceSettings, order: dict[str, Any]
) -> None:
    device = f"dev-{order['order_id']}"
    start = pd.Timestamp(order["created_at"])

    def on_device(i: int, at: pd.Timestamp) -> dict[str, Any]:
        return {
            **order,
            "order_id": f"{order['order_id']}-{i}",
            "created_at": at.isoformat(),
            "device": {**order["device"], "fingerprint": device},
        }

    orders = [on_device(i, start + pd.Timedelta(milliseconds=10 * i)) for i in range(6)]
    threads = [
        threading.Thread(target=client.post, args=("/v1/orders/score",), kwargs={"json": o})
        for o in orders
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    engine = make_engine(settings.db_url)
    records = [decision_by_order(engine, o["order_id"]) for o in orders]
    seen = [cast(float, r.features["device_orders_1h"]) for r in records if r is not None]
    # Whatever order they were scored in, each counts only orders placed before it.
    assert len(seen) == 6 and all(0 <= count <= i for i, count in enumerate(seen))
    client.post("/v1/orders/score", json=on_device(6, start + pd.Timedelta(seconds=1)))
    last = decision_by_order(engine, f"{order['order_id']}-6")
    assert last is not None and last.features["device_orders_1h"] == 6.0


def test_shap_values_add_up_and_equal_tree_explainer(
    client: TestClient, settings: ServiceSettings, order: dict[str, Any]
) -> None:
    client.post("/v1/orders/score", json=order)
    record = decision_by_order(make_engine(settings.db_url), order["order_id"])
    assert record is not None
    scorer = load_scorer(settings)
    names = scorer.card.features
    values = np.array(
        [[np.nan if record.features[n] is None else record.features[n] for n in names]]
    )
    contributions = np.array([record.shap_values[n] for n in names])
    assert contributions.sum() + record.base_value == pytest.approx(record.raw_score, abs=1e-6)
    assert record.raw_score == pytest.approx(float(scorer.raw_score(values)[0]), abs=1e-6)
    # The score comes from the SHAP pass; it is the booster's own probability.
    assert record.score == pytest.approx(float(scorer.score(values)[0]), abs=1e-12)
    reference = shap.TreeExplainer(scorer.booster)
    np.testing.assert_allclose(
        contributions, np.asarray(reference.shap_values(values))[0], atol=1e-6
    )


def _without(order: dict[str, Any], path: str) -> dict[str, Any]:
    broken = copy.deepcopy(order)
    *parents, leaf = path.split(".")
    target = broken
    for part in parents:
        target = target[part]
    del target[leaf]
    return broken


def _with(order: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    broken = copy.deepcopy(order)
    *parents, leaf = path.split(".")
    # A JSON node on the way down: an object or an array.
    target: Any = broken
    for part in parents:
        target = target[int(part)] if part.isdigit() else target[part]
    target[leaf] = value
    return broken


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        (lambda o: _without(o, "customer"), "customer"),
        (lambda o: _without(o, "items"), "items"),
        (lambda o: _with(o, "amount", "-5.00"), "amount"),
        (lambda o: _with(o, "amount", "lots"), "amount"),
        (lambda o: _with(o, "currency", "XYZ"), "currency"),
        (lambda o: _with(o, "items.0.quantity", 0), "items.0.quantity"),
        (lambda o: _with(o, "items.0.quantity", "two"), "items.0.quantity"),
        (lambda o: _with(o, "ip", "999.1.1.1"), "ip"),
        (lambda o: _with(o, "created_at", "2026-01-01T10:00:00"), "created_at"),
        (lambda o: _with(o, "order_id", ""), "order_id"),
        (lambda o: _with(o, "order_id", "shop/1"), "order_id"),
    ],
)
def test_bad_orders_get_422_naming_the_field_and_write_nothing(
    client: TestClient, settings: ServiceSettings, order: dict[str, Any], mutate: Any, field: str
) -> None:
    response = client.post("/v1/orders/score", json=mutate(order))
    assert response.status_code == 422, response.text
    body = response.json()
    assert body["error"] == "invalid_request"
    assert any(d["field"].startswith(field) for d in body["detail"]), body
    assert count(settings, Decision, order["order_id"]) == 0


def test_a_megabyte_body_is_refused_and_writes_nothing(
    client: TestClient, settings: ServiceSettings, order: dict[str, Any]
) -> None:
    huge = dict(order, padding="x" * 1_000_000)
    response = client.post("/v1/orders/score", json=huge)
    assert response.status_code == 413
    assert response.json()["error"] == "payload_too_large"
    assert count(settings, Decision, order["order_id"]) == 0


def test_a_chunked_body_over_the_limit_is_refused_and_writes_nothing(
    client: TestClient, settings: ServiceSettings, order: dict[str, Any]
) -> None:
    body = json.dumps(dict(order, padding="x" * 400_000)).encode()
    chunks = (body[i : i + 65_536] for i in range(0, len(body), 65_536))
    response = client.post(
        "/v1/orders/score", content=chunks, headers={"content-type": "application/json"}
    )
    assert response.status_code == 413
    assert response.json()["error"] == "payload_too_large"
    assert count(settings, Decision, order["order_id"]) == 0


def test_not_json_and_unknown_order_are_clear(client: TestClient) -> None:
    response = client.post(
        "/v1/orders/score", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert response.status_code == 422 and response.json()["error"] == "invalid_request"
    missing = client.get("/v1/orders/nope/decision")
    assert missing.status_code == 404 and missing.json()["error"] == "not_found"


def test_health_and_readiness(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200, ready.text
    assert ready.json()["checks"] == {"model": True, "feature_store": True, "database": True}


def test_the_answer_says_where_its_time_went(client: TestClient, order: dict[str, Any]) -> None:
    answer = client.post("/v1/orders/score", json=order)
    stages = dict(part.split(";dur=") for part in answer.headers["Server-Timing"].split(", "))
    assert list(stages) == ["prepare", "read", "explain", "score", "write", "update"]
    assert all(float(ms) >= 0 for ms in stages.values()) and float(stages["write"]) > 0
