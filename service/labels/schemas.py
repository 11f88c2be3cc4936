"""Labels and payment outcomes reported after the decision.

Each is one event of its order, counted once: a retry with the same
`event_id` and the same body answers the stored event and records nothing;
the same `event_id` with another body is a 409. Without an `event_id`, an
event that gives its `known_at` is identified by its order, its label or
status and that time, so a plain retry of the same payload counts once too;
one with neither is a new event at every call.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from service.inputs import EventTime, RequestModel
from service.scoring.schemas import Identifier, OrderId

KNOWN_AT = (
    "when it became known: ISO 8601 with its zone, not before the order's creation nor "
    "after now (plus the clock skew); default: now"
)
EVENT_ID = (
    "the provider's id of this event: a retry with the same id and body counts once, "
    "the same id with another body is a 409"
)


class LabelIn(RequestModel):
    """A confirmed outcome of an order: fraud (chargeback, non-payment, ...) or legitimate."""

    order_id: OrderId
    label: Literal["fraud", "legit"]
    reason: str | None = Field(
        None, max_length=64, description="fraud scenario or chargeback reason"
    )
    known_at: EventTime | None = Field(None, description=KNOWN_AT)
    event_id: Identifier | None = Field(None, description=EVENT_ID)


class LabelOut(BaseModel):
    id: int
    order_id: str
    label: str
    applied_to_features: bool
    event_id: str | None = None


class PaymentOutcomeIn(RequestModel):
    """The payment provider's answer for an order."""

    status: Literal["declined", "authorized"]
    known_at: EventTime | None = Field(None, description=KNOWN_AT)
    event_id: Identifier | None = Field(None, description=EVENT_ID)


class PaymentOutcomeOut(BaseModel):
    id: int
    order_id: str
    status: str
    event_id: str | None = None
