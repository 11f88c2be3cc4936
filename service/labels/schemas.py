"""Labels and payment outcomes reported after the decision."""

from __future__ import annotations

from typing import Literal

from pydantic import AwareDatetime, BaseModel, Field

from service.scoring.schemas import OrderId


class LabelIn(BaseModel):
    """A confirmed outcome of an order: fraud (chargeback, non-payment, ...) or legitimate."""

    order_id: OrderId
    label: Literal["fraud", "legit"]
    reason: str | None = Field(
        None, max_length=64, description="fraud scenario or chargeback reason"
    )
    known_at: AwareDatetime | None = Field(None, description="when it became known; default: now")


class LabelOut(BaseModel):
    id: int
    order_id: str
    label: str
    applied_to_features: bool


class PaymentOutcomeIn(BaseModel):
    """The payment provider's answer for an order."""

    status: Literal["declined", "authorized"]
    known_at: AwareDatetime | None = None


class PaymentOutcomeOut(BaseModel):
    id: int
    order_id: str
    status: str
