"""POST /v1/labels and POST /v1/orders/{order_id}/payment."""

from __future__ import annotations

from fastapi import APIRouter, Depends

from service.auth.guards import key_with_scope
from service.blocking import in_thread
from service.deps import EngineDep
from service.errors import API_ERRORS
from service.labels.schemas import LabelIn, LabelOut, PaymentOutcomeIn, PaymentOutcomeOut
from service.labels.service import record_label, record_payment
from service.scoring.deps import ScoringDep
from service.scoring.schemas import OrderIdPath

router = APIRouter(
    tags=["labels"], responses=API_ERRORS, dependencies=[Depends(key_with_scope("labels"))]
)


@router.post("/v1/labels", response_model=LabelOut)
async def post_label(label: LabelIn, engine: EngineDep, scoring: ScoringDep) -> LabelOut:
    """Record a confirmed fraud or legitimate outcome of a scored order."""
    return await in_thread(record_label, engine, scoring, label, source="api")


@router.post("/v1/orders/{order_id}/payment", response_model=PaymentOutcomeOut)
async def post_payment(
    order_id: OrderIdPath, outcome: PaymentOutcomeIn, engine: EngineDep, scoring: ScoringDep
) -> PaymentOutcomeOut:
    """Record the payment provider's outcome (a decline feeds the payment-account features)."""
    return await in_thread(record_payment, engine, scoring, order_id, outcome)
