"""The customer's time zone: an IANA name or a 422 naming `customer.time_zone`."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import ValidationError

from service.scoring.schemas import Order

ORDER: dict[str, Any] = {
    "order_id": "o-1",
    "items": [{"sku": "a", "quantity": 1, "unit_price": "10.00"}],
    "amount": "10.00",
    "currency": "EUR",
}


def test_a_time_zone_reaches_the_canonical_record() -> None:
    order = Order.model_validate({**ORDER, "customer": {"id": "c", "time_zone": "Asia/Tokyo"}})
    assert order.canonical(datetime.now(UTC))["time_zone"] == "Asia/Tokyo"


@pytest.mark.parametrize("zone", ["Mars/Olympus", "UTC+2", "", "Europe/Berlin\x00"])
def test_a_zone_that_is_not_an_iana_name_is_refused(zone: str) -> None:
    with pytest.raises(ValidationError) as refused:
        Order.model_validate({**ORDER, "customer": {"id": "c", "time_zone": zone}})
    assert refused.value.errors()[0]["loc"] == ("customer", "time_zone")
