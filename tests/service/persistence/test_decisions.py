"""Decisions: exact round trips, idempotency and the tamper-evident hash chain."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import Engine, func, select, text

from service.persistence import (
    InvalidRecord,
    case_for_order,
    decision_by_order,
    save_decision,
    verify_chain,
)
from service.persistence.chain import GENESIS, link_hash
from service.persistence.tables import DecisionRow, ReviewCaseRow
from tests.service.persistence.samples import ORDER_TIME, sample_decision


def _count(engine: Engine, model: type[DecisionRow] | type[ReviewCaseRow]) -> int:
    with engine.connect() as connection:
        return int(connection.scalar(select(func.count()).select_from(model)) or 0)


def test_every_field_reads_back_exactly(engine: Engine) -> None:
    new = sample_decision()
    saved, created = save_decision(engine, new, open_case=True)
    assert created
    read = decision_by_order(engine, new.order_id)
    assert read == saved
    assert read is not None
    assert len(read.id) == 32 and int(read.id, 16) >= 0
    assert (read.seq, read.prev_hash) == (1, GENESIS)
    assert read.hash == link_hash(dataclasses.asdict(read))
    assert read.created_at == ORDER_TIME and read.created_at.tzinfo is UTC
    assert read.decided_at == new.decided_at and read.decided_at.tzinfo is UTC
    assert read.created_at.microsecond == 123456
    stored = {f.name: getattr(read, f.name) for f in dataclasses.fields(new)}
    expected = dataclasses.asdict(new) | {"created_at": read.created_at}
    assert stored == expected
    assert read.score == 0.1 + 0.2
    assert read.features["big"] == 1e16 and isinstance(read.features["big"], float)
    assert read.shap_values["big"] == -1e-300
    assert read.order_payload["customer"]["email"] == "zoë@example.com"


def test_a_repeated_order_returns_the_first_decision_unchanged(engine: Engine) -> None:
    first, created = save_decision(engine, sample_decision(), open_case=True)
    again, created_again = save_decision(engine, sample_decision(score=0.01), open_case=True)
    assert (created, created_again) == (True, False)
    assert again == first
    assert _count(engine, DecisionRow) == 1
    assert _count(engine, ReviewCaseRow) == 1


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
    assert verify_chain(engine) is None


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


def test_the_chain_links_each_decision_to_the_previous_one(engine: Engine) -> None:
    records = [save_decision(engine, sample_decision(f"ord-{i}"), True)[0] for i in range(5)]
    assert [r.seq for r in records] == [1, 2, 3, 4, 5]
    assert [r.prev_hash for r in records] == [GENESIS] + [r.hash for r in records[:-1]]
    assert verify_chain(engine) is None


def test_an_empty_chain_is_intact(engine: Engine) -> None:
    assert verify_chain(engine) is None


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE decisions SET score = 0.01 WHERE seq = 3",
        # FREEZE is a reserved word in PostgreSQL, hence the quotes.
        'UPDATE decisions SET "freeze" = NOT "freeze" WHERE seq = 3',
        "UPDATE decisions SET features = '{\"amount\": 1.0}' WHERE seq = 3",
        "DELETE FROM decisions WHERE seq = 2",
    ],
    ids=["score", "freeze", "features", "deleted-predecessor"],
)
def test_tampering_is_found_at_its_seq(engine: Engine, statement: str) -> None:
    for i in range(5):
        save_decision(engine, sample_decision(f"ord-{i}"), open_case=False)
    with engine.begin() as connection:
        connection.execute(text(statement))
    assert verify_chain(engine) == 3
