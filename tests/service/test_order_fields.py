"""Currencies, countries and e-mail addresses: library-checked, with the codes shops still send."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import TypeAdapter, ValidationError

from features.codes import Country, OrderCurrency
from service.scoring.schemas import Email


@pytest.mark.parametrize(
    ("kind", "value", "expected"),
    [
        (OrderCurrency, "EUR", "EUR"),
        (OrderCurrency, "gbp", "GBP"),
        (OrderCurrency, "XCG", "XCG"),  # new in 2025, missing from the old hand-written table
        (OrderCurrency, "BGN", "BGN"),  # withdrawn by ISO, still sent
        (Country, "GB", "GB"),
        (Country, "XK", "XK"),
        (Email, "buyer@shop.test", "buyer@shop.test"),
        (Email, "Ann@Example.COM", "Ann@Example.COM"),  # stored as sent
        (Email, "zoë@exämple.de", "zoë@exämple.de"),
    ],
)
def test_accepted(kind: Any, value: str, expected: str) -> None:
    assert TypeAdapter(kind).validate_python(value) == expected


@pytest.mark.parametrize(
    ("kind", "value"),
    [
        (OrderCurrency, "XYZ"),
        (OrderCurrency, "EURO"),
        (Country, "ZZ"),
        (Country, "U1"),
        (Email, "no-at-sign"),
        (Email, "two@@example.com"),
        (Email, "john..doe@example.com"),
        (Email, "a" * 250 + "@example.com"),
    ],
)
def test_refused(kind: Any, value: str) -> None:
    with pytest.raises(ValidationError):
        TypeAdapter(kind).validate_python(value)
