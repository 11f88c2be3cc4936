"""The answer for a stored decision: `Decision` for the API's schema, JSON bytes for the hot path.

Both come from one mapping (`answer`). A fresh decision's record is OrderShield's
own, just normalised for storage, so the scoring path writes its answer with
orjson straight from that mapping instead of building and validating a
`Decision` first; everything else (a stored decision read back) validates it.
"""

from __future__ import annotations

from typing import Any

import orjson

from service.persistence.decision_rows import decision_fields
from service.persistence.records import DecisionRecord, StockState, StockTransition
from service.scoring.fail_policy import degraded_parts
from service.scoring.schemas import Decision

Stock = tuple[StockState, list[StockTransition]]
# The answer's fields in `Decision`'s order, so a new decision and a repeated one read alike.
ANSWER_FIELDS = tuple(Decision.model_fields)


def answer(record: DecisionRecord, stock: Stock | None = None) -> dict[str, Any]:
    """Return the API answer for a stored decision as plain data, laid out as `Decision`."""
    state, steps = stock if stock else (None, [])
    parts, policy = degraded_parts(record.rules)
    fields = {
        # The reasons are stored as `Reason`'s fields, which are `ReasonOut`'s.
        **decision_fields(record),
        "stock": {
            "freeze": record.freeze,
            "reason": record.freeze_reason,
            "state": state,
            "history": [
                {
                    "state": step.to_state,
                    "previous": step.from_state,
                    "outcome": step.outcome,
                    "at": step.at,
                    "by": step.actor,
                    "reason": step.reason,
                }
                for step in steps
            ],
        },
        "rules": record.rules,
        "feature_spec": {"hash": record.spec_hash},
        "degraded_parts": parts,
        "fail_policy": policy,
        "latency_ms": record.latency_ms,
        "decided_at": record.decided_at,
    }
    return {name: fields[name] for name in ANSWER_FIELDS}


def answer_json(record: DecisionRecord, stock: Stock | None = None) -> bytes:
    """Return the answer for a decision this process just made, as JSON (times in UTC, `Z`)."""
    return orjson.dumps(answer(record, stock), option=orjson.OPT_UTC_Z)


def to_response(record: DecisionRecord, stock: Stock | None = None) -> Decision:
    """Return the API answer for a stored decision (with its stock hold, when given)."""
    return Decision.model_validate(answer(record, stock))
