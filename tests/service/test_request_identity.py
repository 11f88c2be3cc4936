"""One request, one effect: a changed body under a known id is a 409; a retry counts once."""

from __future__ import annotations

import copy
from datetime import timedelta, timezone
from pathlib import Path
from typing import Any
from unittest.mock import patch

import pandas as pd
import pytest
from fastapi.testclient import TestClient

from service.persistence import decision_by_order, make_engine
from service.settings import ServiceSettings
from tests.service.clients import api_client
from tests.service.conftest import prepared_settings
from tests.service.hostile import ago, iso, valid_order, written

SCORE = "/v1/orders/score"


def features_of(settings: ServiceSettings, order_id: str) -> dict[str, float | None]:
    engine = make_engine(settings.db_url)
    try:
        record = decision_by_order(engine, order_id)
    finally:
        engine.dispose()
    assert record is not None
    return record.features


def test_the_same_order_id_with_a_changed_body_is_a_409_and_writes_nothing(
    client: TestClient, settings: ServiceSettings
) -> None:
    order = valid_order("identity-changed")
    first = client.post(SCORE, json=order)
    assert first.status_code == 200, first.text
    decision_id = first.json()["decision_id"]
    before = written(settings)
    changed = copy.deepcopy(order)
    changed["amount"] = "0.01"
    refused = client.post(SCORE, json=changed)
    assert refused.status_code == 409, refused.text
    body = refused.json()
    assert body["error"] == "conflict" and body["decision_id"] == decision_id
    assert decision_id in body["detail"]
    assert written(settings) == before
    assert client.get(f"/v1/orders/{order['order_id']}/decision").json()["decision_id"] == (
        decision_id
    )


def test_the_same_body_spelled_another_way_is_the_same_request(client: TestClient) -> None:
    created = ago(hours=1).replace(microsecond=0)
    order = valid_order("identity-spelled", created_at=created)
    first = client.post(SCORE, json=order).json()
    respelled = copy.deepcopy(order)
    respelled["amount"] = "499.0"
    respelled["items"][0]["unit_price"] = 499
    respelled["created_at"] = created.astimezone(timezone(timedelta(hours=2))).isoformat()
    respelled["payment"]["method"] = "card"  # the default, now sent
    respelled["customer"]["id"] = f"  {order['customer']['id']} "  # trimmed
    again = client.post(SCORE, json=respelled)
    assert again.status_code == 200, again.text
    assert again.json() == first


def _score(client: TestClient, order: dict[str, Any]) -> None:
    answer = client.post(SCORE, json=order)
    assert answer.status_code == 200, answer.text


def test_a_retried_decline_counts_once_in_the_next_orders_features(
    client: TestClient, settings: ServiceSettings
) -> None:
    """The chaos tester's finding: 3 declines and 2 retries made payment_declines_1h 5."""
    account = "pay-retried-declines"
    first = valid_order("declines-first", created_at=ago(minutes=50), account=account)
    _score(client, first)
    url = f"/v1/orders/{first['order_id']}/payment"
    declines = [
        {"status": "declined", "known_at": iso(ago(minutes=45)), "event_id": "evt-decline-1"},
        {"status": "declined", "known_at": iso(ago(minutes=44))},  # identified by its time
        {"status": "declined", "known_at": iso(ago(minutes=43)), "event_id": "evt-decline-3"},
    ]
    answers = [client.post(url, json=decline) for decline in declines]
    assert [a.status_code for a in answers] == [200, 200, 200]
    before = written(settings)
    retries = [client.post(url, json=declines[0]), client.post(url, json=declines[1])]
    assert [r.json() for r in retries] == [answers[0].json(), answers[1].json()]
    assert written(settings) == before
    following = valid_order("declines-next", created_at=ago(minutes=40), account=account)
    _score(client, following)
    assert features_of(settings, following["order_id"])["payment_declines_1h"] == 3


def test_the_same_event_id_with_another_body_is_a_409_and_writes_nothing(
    client: TestClient, settings: ServiceSettings
) -> None:
    order = valid_order("events-conflict", created_at=ago(hours=1))
    _score(client, order)
    url = f"/v1/orders/{order['order_id']}/payment"
    stored = client.post(url, json={"status": "declined", "event_id": "evt-7"})
    assert stored.status_code == 200, stored.text
    before = written(settings)
    refused = client.post(url, json={"status": "authorized", "event_id": "evt-7"})
    assert refused.status_code == 409, refused.text
    assert refused.json()["error"] == "conflict"
    assert refused.json()["payment_id"] == stored.json()["id"]
    label = {"order_id": order["order_id"], "label": "fraud", "event_id": "cb-1"}
    first = client.post("/v1/labels", json={**label, "reason": "chargeback"})
    assert first.status_code == 200 and first.json()["applied_to_features"], first.text
    retried = client.post("/v1/labels", json={**label, "reason": "chargeback"})
    assert retried.json() == first.json()
    changed = client.post("/v1/labels", json={**label, "reason": "account_takeover"})
    assert changed.status_code == 409 and changed.json()["label_id"] == first.json()["id"]
    after = written(settings)
    assert after["labels"] == before["labels"] + 1
    assert after["payment_outcomes"] == before["payment_outcomes"]


@pytest.mark.parametrize("known", [False, True])
def test_an_event_with_neither_id_nor_time_is_new_at_every_call(
    client: TestClient, settings: ServiceSettings, known: bool
) -> None:
    order = valid_order(f"events-anonymous-{known}", created_at=ago(hours=1))
    _score(client, order)
    body = {"status": "declined"} | ({"known_at": iso(ago(minutes=30))} if known else {})
    url = f"/v1/orders/{order['order_id']}/payment"
    before = written(settings)["payment_outcomes"]
    ids = {client.post(url, json=body).json()["id"] for _ in range(3)}
    # With its known time, a retry is the same event; without, each call is a new one.
    assert len(ids) == (1 if known else 3)
    assert written(settings)["payment_outcomes"] == before + len(ids)


def test_a_changed_body_is_a_409_even_while_no_model_is_loaded(
    tmp_path: Path, stream: pd.DataFrame
) -> None:
    settings = prepared_settings(tmp_path, stream.iloc[:100])
    order = valid_order("identity-no-model")
    with api_client(settings) as client:
        assert client.post(SCORE, json=order).status_code == 200
        holder = client.app_state["model"]
        with patch.object(type(holder), "current", property(lambda _: None)):
            same = client.post(SCORE, json=order)
            changed = client.post(SCORE, json=dict(order, amount="0.01"))
    assert same.status_code == 200, same.text
    assert changed.status_code == 409, changed.text
