"""One dump of an order: its stored form, its request hash (as before) and its canonical record."""

from __future__ import annotations

import types
import typing
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pandas as pd
import pytest
from pydantic import AwareDatetime, BaseModel

from service.inputs import RequestModel
from service.scoring.order_forms import AMOUNTS, TIMES
from service.scoring.schemas import Order
from training.sources.payloads import order_payload

RECEIVED = datetime(2024, 3, 1, 12, 0, tzinfo=UTC)
# Spellings of the same values a retry may use, and values that differ only in form.
SPELLINGS: list[dict[str, Any]] = [
    {"created_at": "2024-03-01T09:30:15.1+05:30"},
    {"created_at": "2024-03-01T04:00:15.100000Z"},
    {"created_at": "2024-03-01 04:00:15z"},
    {"created_at": "2024-03-01T04:00-00:00"},
    {"created_at": None},
    {"amount": "10.5000"},
    {"amount": 10.5},
    {"amount": "0"},
    {"amount": "1E+2"},
    {"ip": "2001:0db8:0000:0000:0000:0000:0000:0001"},
    {"ip": None, "device": None, "payment": None, "shipping_address": None},
]


def orders(stream: pd.DataFrame) -> list[dict[str, Any]]:
    payloads = [order_payload(stream.iloc[i]) for i in range(0, 600, 7)]
    base = payloads[0]
    customer = {**base["customer"], "account_created_at": "2019-12-31T23:59:59.999999-11:00"}
    items = [{**item, "unit_price": "12.3400"} for item in base["items"]]
    return [*payloads, {**base, "customer": customer, "items": items}] + [
        {**base, **spelling} for spelling in SPELLINGS
    ]


def test_the_request_hash_from_the_stored_form_is_the_one_every_request_has(
    stream: pd.DataFrame,
) -> None:
    for payload in orders(stream):
        order = Order.model_validate(payload)
        forms = order.forms(RECEIVED)
        assert forms.sha256 == RequestModel.sha256(order) == order.sha256(), payload
        assert forms.payload == order.model_dump(mode="json")
        assert forms.canonical == order.canonical(RECEIVED)


def test_spellings_of_one_order_hash_alike() -> None:
    base = {
        "order_id": "o-1",
        "customer": {"id": "c-1"},
        "items": [{"sku": "s", "quantity": 1, "unit_price": "2.50"}],
        "currency": "EUR",
    }
    one = Order.model_validate({**base, "amount": "2.50", "created_at": "2024-03-01T10:00:00Z"})
    other = Order.model_validate({**base, "amount": 2.5, "created_at": "2024-03-01T11:00+01:00"})
    assert one.sha256() == other.sha256()
    assert one.sha256() != Order.model_validate({**base, "amount": "2.51"}).sha256()


def _leaves(
    model: type[BaseModel], path: tuple[str, ...] = ()
) -> set[tuple[tuple[str, ...], type]]:
    """Return (path, type) of every datetime and Decimal field under a model ("*": list items)."""
    found: set[tuple[tuple[str, ...], type]] = set()
    for name, field in model.model_fields.items():
        todo: list[tuple[Any, tuple[str, ...]]] = [(field.annotation, (*path, name))]
        while todo:
            kind, where = todo.pop()
            origin = typing.get_origin(kind)
            if origin is typing.Annotated:
                todo.append((typing.get_args(kind)[0], where))
            elif origin in (typing.Union, types.UnionType):
                todo.extend((arg, where) for arg in typing.get_args(kind))
            elif origin is list:
                todo.append((typing.get_args(kind)[0], (*where, "*")))
            elif isinstance(kind, type) and issubclass(kind, BaseModel):
                found |= _leaves(kind, where)
            elif kind is AwareDatetime or (isinstance(kind, type) and issubclass(kind, datetime)):
                found.add((where, datetime))
            elif isinstance(kind, type) and issubclass(kind, Decimal):
                found.add((where, Decimal))
    return found


@pytest.mark.parametrize("model", [Order])
def test_the_respelled_fields_are_every_time_and_amount_of_the_order(model: type) -> None:
    expected = {(p, datetime) for p in TIMES} | {(p, Decimal) for p in AMOUNTS}
    assert _leaves(model) == expected
