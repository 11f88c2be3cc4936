"""POST /v1/orders/score and GET /v1/orders/{order_id}/decision."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Response

from service.auth.guards import key_with_scope
from service.blocking import in_thread
from service.deps import EngineDep
from service.errors import API_ERRORS, NotFound
from service.persistence import decision_by_order
from service.persistence.stock import stock_of
from service.scoring.answer import to_response
from service.scoring.deps import ScoringDep
from service.scoring.schemas import Decision, Order, OrderIdPath
from service.scoring.stopwatch import Stopwatch

router = APIRouter(prefix="/v1/orders", tags=["scoring"])
SCORE = [Depends(key_with_scope("score"))]


@router.post("/score", response_model=Decision, responses=API_ERRORS, dependencies=SCORE)
async def score_order(order: Order, scoring: ScoringDep) -> Response:
    """Score one order at creation and record the decision (same order id: same decision)."""
    watch = Stopwatch()
    # The answer comes back as JSON, serialised in the worker thread from the stored
    # record: FastAPI would otherwise validate a `Decision` and serialise it on the loop.
    body = await in_thread(scoring.answer, order, watch)
    timing = {"Server-Timing": watch.header()}
    return Response(body, media_type="application/json", headers=timing)


@router.get(
    "/{order_id}/decision", response_model=Decision, responses=API_ERRORS, dependencies=SCORE
)
async def get_decision(order_id: OrderIdPath, engine: EngineDep) -> Decision:
    """Return the stored decision of an order, with its stock's state and history."""
    record = await in_thread(decision_by_order, engine, order_id)
    if record is None:
        raise NotFound(f"no decision for order {order_id!r}")
    return to_response(record, await in_thread(stock_of, engine, order_id))
