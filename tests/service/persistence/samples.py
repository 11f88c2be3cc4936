"""A fully populated decision to save in tests."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from sqlalchemy import Engine

from service.persistence import NewDecision
from service.persistence.audit_log import sequence_all
from service.persistence.audit_verify import verify_log

ORDER_TIME = datetime(2024, 3, 1, 9, 30, 15, 123456, tzinfo=timezone(timedelta(hours=2)))


def sample_decision(order_id: str = "ord-1", **changes: Any) -> NewDecision:
    """Return a decision with awkward values in every field (exact floats, nested JSON, zones)."""
    decision = NewDecision(
        order_id=order_id,
        customer_id="cust-1",
        created_at=ORDER_TIME,
        decided_at=datetime(2024, 3, 1, 7, 30, 15, 654321, tzinfo=UTC),
        order_payload={
            "order_id": order_id,
            "amount": 129.99,
            "items": [{"sku": "A-1", "qty": 2, "price": 0.1}],
            "customer": {"id": "cust-1", "email": "zoë@example.com", "new": True, "note": None},
            "ip": "203.0.113.7",
        },
        features={"amount": 129.99, "device_orders_1h": 3.0, "ip_risk": None, "big": 1e16},
        score=0.1 + 0.2,
        raw_score=-1.2345678901234567,
        tier="high",
        action="review",
        freeze=True,
        freeze_reason="high risk: stock held until review",
        reasons=[{"code": "device_velocity", "text": "3 orders on this device", "value": 3.0}],
        shap_values={"amount": 0.25, "device_orders_1h": 1.0000000000000002, "big": -1e-300},
        base_value=-3.5,
        model_name="ordershield",
        model_version="7",
        thresholds={"medium": 0.2, "high": 0.8},
        spec_hash="ab" * 32,
        rules_version="2024-03-01",
        rules=["block_list:email"],
        degraded=False,
        latency_ms=4.25,
    )
    return dataclasses.replace(decision, **changes)


def log_verifies(engine: Engine) -> bool:
    """Sequence what is pending and return whether the whole audit log verifies."""
    sequence_all(engine)
    verdict = verify_log(engine)
    assert verdict.ok, verdict
    return True
