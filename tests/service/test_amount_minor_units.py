"""An order's amount has no more decimals than its currency's minor units: else a 422 naming it."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pandas as pd
import pytest
from fastapi.testclient import TestClient

from service.inputs import STORED
from service.persistence import decision_by_order, make_engine
from service.scoring.schemas import Order
from service.settings import ServiceSettings
from training.sources.payloads import order_payload


def _order(stream: pd.DataFrame, order_id: str, amount: str, currency: str) -> dict[str, Any]:
    order = order_payload(stream.iloc[0])
    return {**order, "order_id": order_id, "amount": amount, "currency": currency}


@pytest.mark.parametrize(("amount", "currency"), [("1.5", "JPY"), ("1.005", "EUR")])
def test_an_amount_finer_than_its_currency_is_a_422_naming_amount(
    client: TestClient,
    settings: ServiceSettings,
    stream: pd.DataFrame,
    amount: str,
    currency: str,
) -> None:
    order_id = f"minor-units-{currency}"
    response = client.post("/v1/orders/score", json=_order(stream, order_id, amount, currency))
    assert response.status_code == 422, response.text
    body = response.json()
    assert body["error"] == "invalid_request"
    assert [d["field"] for d in body["detail"]] == ["amount"]
    assert currency in body["detail"][0]["message"]
    assert decision_by_order(make_engine(settings.db_url), order_id) is None


def test_whole_yen_and_cents_are_scored(client: TestClient, stream: pd.DataFrame) -> None:
    for order_id, amount, currency in [("yen-1", "1500.00", "JPY"), ("eur-1", "1.50", "EUR")]:
        response = client.post("/v1/orders/score", json=_order(stream, order_id, amount, currency))
        assert response.status_code == 200, response.text


def test_a_stored_order_is_read_as_it_came(stream: pd.DataFrame) -> None:
    stored = _order(stream, "old-yen", "1.5", "JPY")
    assert Order.model_validate(stored, context=STORED).amount == Decimal("1.5")
