"""The scoring path's JSON answer says what the API's `Decision` says, field for field."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import orjson
import pytest
from sqlalchemy import Engine

from service.persistence import make_engine, migrate, save_decision
from service.persistence.db import writing
from service.persistence.stock import move, stock_of
from service.scoring.answer import answer_json, to_response
from service.scoring.fail_policy import RULE
from service.scoring.schemas import Decision
from tests.service.persistence.samples import sample_decision

REASONS = [
    {"feature": "device_orders_1h", "value": 3.0, "contribution": 0.7, "text": "3 orders"},
    {"feature": "ip_risk", "value": None, "contribution": 1e-17, "text": "unknown"},
]
DEGRADED = {"rule": RULE, "policy": "review", "degraded": ["online_store"], "text": "held"}


@pytest.fixture()
def engine(tmp_path: Path) -> Engine:
    engine = make_engine(f"sqlite:///{tmp_path / 'ordershield.db'}")
    migrate(engine)
    return engine


@pytest.mark.parametrize("rules", [[], [DEGRADED]])
def test_the_json_answer_is_the_decision_models_answer(engine: Engine, rules: list[object]) -> None:
    new = sample_decision("answer-1", reasons=REASONS, rules=rules, score=0.1 + 0.2)
    record, _ = save_decision(engine, new, open_case=True)
    with writing(engine) as connection:
        move(connection, record.order_id, "released", "reviewer:ann", "checked by phone")
    stock = stock_of(engine, record.order_id)
    assert stock is not None and len(stock[1]) == 2
    for held in (None, stock):
        fast = orjson.loads(answer_json(record, held))
        assert fast == json.loads(to_response(record, held).model_dump_json())
        # A new decision's answer and a repeated one's list their fields alike.
        assert list(fast) == list(Decision.model_fields)
    answer = orjson.loads(answer_json(record, stock))
    assert answer["decided_at"] == "2024-03-01T07:30:15.654321Z"  # as pydantic writes it
    shown = [datetime.fromisoformat(step["at"]) for step in answer["stock"]["history"]]
    assert shown == [step.at for step in stock[1]]
    assert answer["stock"] == {
        "freeze": True,
        "reason": record.freeze_reason,
        "state": "released",
        "history": [
            {
                "state": "frozen",
                "previous": None,
                "outcome": None,
                "at": answer["stock"]["history"][0]["at"],
                "by": "system",
                "reason": record.freeze_reason,
            },
            {
                "state": "released",
                "previous": "frozen",
                "outcome": None,
                "at": answer["stock"]["history"][1]["at"],
                "by": "reviewer:ann",
                "reason": "checked by phone",
            },
        ],
    }
    assert (answer["degraded_parts"], answer["fail_policy"]) == (
        (["online_store"], "review") if rules else ([], None)
    )
    assert answer["reasons"] == REASONS and answer["score"] == 0.1 + 0.2
    assert (answer["order_id"], answer["decision_id"]) == ("answer-1", record.id)
