"""POST /v1/labels and POST /v1/orders/{order_id}/payment."""

from __future__ import annotations

from fastapi import APIRouter

from service.blocking import in_thread
from service.deps import RuntimeDep
from service.labels.schemas import LabelIn, LabelOut, PaymentOutcomeIn, PaymentOutcomeOut
from service.labels.service import record_label, record_payment
from service.scoring.router import ERRORS

router = APIRouter(tags=["labels"])


@router.post("/v1/labels", response_model=LabelOut, responses=ERRORS)
async def post_label(label: LabelIn, runtime: RuntimeDep) -> LabelOut:
    """Record a confirmed fraud or legitimate outcome of a scored order."""
    return await in_thread(record_label, runtime.engine, runtime.scoring, label, source="api")


@router.post("/v1/orders/{order_id}/payment", response_model=PaymentOutcomeOut, responses=ERRORS)
async def post_payment(
    order_id: str, outcome: PaymentOutcomeIn, runtime: RuntimeDep
) -> PaymentOutcomeOut:
    """Record the payment provider's outcome (a decline feeds the payment-account features)."""
    return await in_thread(record_payment, runtime.engine, runtime.scoring, order_id, outcome)
