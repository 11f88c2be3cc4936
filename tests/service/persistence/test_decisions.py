"""Decisions: exact round trips, idempotency, and personal values kept apart."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest
from sqlalchemy import Engine, func, select

from service.auth.attributes import PERSONAL_PATHS
from service.persistence import (
    InvalidRecord,
    case_for_order,
    decision_by_order,
    save_decision,
)
from service.persistence.audit_rows import PersonalValueRow
from service.persistence.chain import commitment
from service.persistence.tables import DecisionRow, FeatureUpdateRow, ReviewCaseRow
from tests.service.persistence.samples import ORDER_TIME, log_verifies, sample_decision


def _count(engine: Engine, model: type[DecisionRow | ReviewCaseRow | FeatureUpdateRow]) -> int:
    with engine.connect() as connection:
        return int(connection.scalar(select(func.count()).select_from(model)) or 0)


def test_every_field_reads_back_exactly(engine: Engine) -> None:
    new = sample_decision()
    saved, created = save_decision(engine, new, open_case=True, personal=PERSONAL_PATHS)
    assert created
    read = decision_by_order(engine, new.order_id)
    assert read == saved
    assert read is not None
    assert len(read.id) == 32 and int(read.id, 16) >= 0
    assert read.created_at == ORDER_TIME and read.created_at.tzinfo is UTC
    assert read.decided_at == new.decided_at and read.decided_at.tzinfo is UTC
    assert read.created_at.microsecond == 123456
    stored = {f.name: getattr(read, f.name) for f in dataclasses.fields(new)}
    expected = dataclasses.asdict(new) | {"created_at": read.created_at}
    assert stored | {"order_payload": read.order} == expected
    assert read.score == 0.1 + 0.2
    assert read.features["big"] == 1e16 and isinstance(read.features["big"], float)
    assert read.shap_values["big"] == -1e-300
    assert read.order["customer"]["email"] == "zoë@example.com"


def test_personal_values_are_kept_outside_the_committed_order(engine: Engine) -> None:
    saved, _ = save_decision(engine, sample_decision(), open_case=False, personal=PERSONAL_PATHS)
    assert "email" not in saved.order_payload["customer"]
    assert "ip" not in saved.order_payload
    assert set(saved.personal) == {"customer.email", "ip"}
    with engine.connect() as connection:
        rows = {r.path: r for r in connection.execute(select(PersonalValueRow))}
    assert set(rows) == {"customer.email", "ip"}
    for path, row in rows.items():
        assert row.customer_id == "cust-1"
        assert saved.personal[path] == commitment(row.salt, orjson.loads(row.value))
    assert orjson.loads(rows["customer.email"].value) == "zoë@example.com"
    # Each value has its own salt: equal values do not give equal commitments.
    again, _ = save_decision(
        engine, sample_decision("ord-2"), open_case=False, personal=PERSONAL_PATHS
    )
    assert again.personal["customer.email"] != saved.personal["customer.email"]


def test_a_repeated_order_returns_the_first_decision_unchanged(engine: Engine) -> None:
    first, created = save_decision(engine, sample_decision(), open_case=True)
    again, created_again = save_decision(engine, sample_decision(score=0.01), open_case=True)
    assert (created, created_again) == (True, False)
    assert again == first
    assert _count(engine, DecisionRow) == 1
    assert _count(engine, ReviewCaseRow) == 1
    assert _count(engine, FeatureUpdateRow) == 1  # the retry owes no second update


def test_a_case_opens_only_when_asked(engine: Engine) -> None:
    save_decision(engine, sample_decision("ord-low", tier="low"), open_case=False)
    record, _ = save_decision(engine, sample_decision("ord-high"), open_case=True)
    assert case_for_order(engine, "ord-low") is None
    case = case_for_order(engine, "ord-high")
    assert case is not None
    assert (case.decision_id, case.order_id, case.status) == (record.id, "ord-high", "open")
    assert case.opened_at.tzinfo is UTC and case.closed_at is None
    assert decision_by_order(engine, "ord-missing") is None


def test_values_are_stored_as_they_read_back(engine: Engine) -> None:
    new = sample_decision(
        features={"missing": float("nan"), "count": 3},
        base_value=-0.0,
        latency_ms=5,
        order_payload={"pair": (1, 2)},
    )
    saved, _ = save_decision(engine, new, open_case=False)
    assert saved.features == {"missing": None, "count": 3.0}
    assert saved.order_payload == {"pair": [1, 2]}
    assert decision_by_order(engine, new.order_id) == saved
    assert log_verifies(engine)


@pytest.mark.parametrize(
    "changes",
    [
        {"created_at": datetime(2024, 3, 1, 9, 30)},
        {"score": float("nan")},
        {"latency_ms": float("inf")},
        {"features": {"ratio": float("inf")}},
        {"order_payload": {"at": datetime(2024, 3, 1, tzinfo=UTC)}},
        {"order_id": ""},
    ],
    ids=["naive-time", "nan-score", "inf-latency", "inf-feature", "non-json", "no-order-id"],
)
def test_unstorable_values_are_refused(engine: Engine, changes: dict[str, Any]) -> None:
    with pytest.raises(InvalidRecord):
        save_decision(engine, sample_decision(**changes), open_case=True)
    assert _count(engine, DecisionRow) == 0
