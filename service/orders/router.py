"""GET /v1/orders/{order_id}: a stored order and its decision, masked for the key's role."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Response

from service.auth.deps import AccessDep
from service.auth.guards import key_with_scope
from service.auth.principal import Principal
from service.blocking import in_thread
from service.errors import API_ERRORS
from service.orders.schemas import OrderView
from service.orders.service import order_view
from service.scoring.schemas import OrderIdPath

router = APIRouter(prefix="/v1/orders", tags=["orders"], responses=API_ERRORS)
Reader = Annotated[Principal, Depends(key_with_scope("orders:read"))]


@router.get("/{order_id}", response_model=OrderView)
async def get_order(
    order_id: OrderIdPath, reader: Reader, access: AccessDep, response: Response
) -> OrderView:
    """Return the order and its decision as the key's role may see them."""
    response.headers["Cache-Control"] = "no-store"  # it may hold personal data
    return await in_thread(order_view, access, reader, order_id)
