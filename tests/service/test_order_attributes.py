"""An order's `attributes`: only what the feature pack declares, of its kind, plain and finite."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from features.catalog import use_pack
from service.inputs import STORED
from service.scoring.schemas import Order
from tests.packs import EXAMPLE_PACK, pack_in_use

ORDER: dict[str, Any] = {
    "order_id": "o-1",
    "customer": {"id": "c-1"},
    "items": [{"sku": "a", "quantity": 1, "unit_price": "10.00"}],
    "amount": "10.00",
    "currency": "EUR",
}


@pytest.fixture(autouse=True)
def terminal_pack() -> Iterator[None]:
    with pack_in_use(EXAMPLE_PACK):
        yield


def test_declared_attributes_join_the_canonical_record() -> None:
    order = Order.model_validate({**ORDER, "attributes": {"terminal_id": "T-7"}})
    record = order.canonical(datetime.now(UTC))
    assert (record["terminal_id"], record["channel"]) == ("T-7", None)


@pytest.mark.parametrize(
    "attributes",
    [{"shop": "x"}, {"terminal_id": 5}, {"terminal_id": "T\x00"}, {"channel": "a" * 300}],
)
def test_a_bad_attribute_is_refused_naming_it(attributes: dict[str, Any]) -> None:
    with pytest.raises(ValidationError) as refused:
        Order.model_validate({**ORDER, "attributes": attributes})
    assert refused.value.errors()[0]["loc"][:2] == ("attributes", next(iter(attributes)))


def test_a_number_attribute_must_be_finite(tmp_path: Path) -> None:
    pack = tmp_path / "pack.yaml"
    pack.write_text("columns: {basket_score: number}")
    use_pack(pack)
    for bad in (float("nan"), float("inf")):
        with pytest.raises(ValidationError):
            Order.model_validate({**ORDER, "attributes": {"basket_score": bad}})
    assert Order.model_validate({**ORDER, "attributes": {"basket_score": 2}}).attributes == {
        "basket_score": 2.0
    }


def test_a_stored_order_reads_under_another_pack_without_what_it_no_longer_declares() -> None:
    stored = {**ORDER, "attributes": {"terminal_id": "T-7", "gone": "x"}}
    order = Order.model_validate(stored, context=STORED)
    assert order.attributes == {"terminal_id": "T-7"}
