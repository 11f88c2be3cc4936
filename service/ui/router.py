"""The web UI's pages: home, open review cases, an order, and the personal-data view log."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, Response

from service.auth.attributes import ATTRIBUTES
from service.auth.deps import AccessDep
from service.auth.guards import signed_in
from service.auth.masking import mask
from service.auth.principal import Principal
from service.blocking import in_thread
from service.deps import EngineDep
from service.inputs import PLAIN_TEXT
from service.orders.service import show_order
from service.persistence import open_cases
from service.persistence.access import personal_data_views
from service.scoring.schemas import OrderIdPath
from service.ui.templates import page

router = APIRouter(include_in_schema=False, default_response_class=HTMLResponse)
CASE_ROLES = ("reviewer", "senior_reviewer", "legal", "admin")
AUDIT_ROLES = ("legal", "admin")
Anyone = Annotated[Principal, Depends(signed_in())]
CaseWorker = Annotated[Principal, Depends(signed_in(*CASE_ROLES))]
Auditor = Annotated[Principal, Depends(signed_in(*AUDIT_ROLES))]


@router.get("/")
async def home(request: Request, principal: Anyone) -> Response:
    """Show what the signed-in person can open."""
    return page(
        request,
        "home.html",
        cases=principal.role in CASE_ROLES,
        audit=principal.role in AUDIT_ROLES,
    )


@router.get("/cases")
async def cases(
    request: Request, principal: CaseWorker, engine: EngineDep, access: AccessDep
) -> Response:
    """List the open review cases, oldest first (order ids, too, pass the masking policy)."""
    found = await in_thread(open_cases, engine)
    policy = access.policy
    rows = [
        (case, mask(policy, principal.role, {"order_id": case.order_id}).values.get("order_id"))
        for case in found
    ]
    return page(request, "cases.html", rows=rows)


@router.get("/orders/{order_id}")
async def order(
    request: Request, order_id: OrderIdPath, principal: Anyone, access: AccessDep
) -> Response:
    """Show an order and its decision as the person's role may see them."""
    shown = await in_thread(show_order, access, principal, order_id, "page")
    shown_id = shown.values.get("order_id") or "(id hidden)"
    return page(request, "order.html", order_id=shown_id, shown=shown, attributes=ATTRIBUTES)


@router.get("/audit/personal-data")
async def personal_data(
    request: Request,
    _: Auditor,
    engine: EngineDep,
    order_id: Annotated[str | None, Query(max_length=128, pattern=PLAIN_TEXT)] = None,
) -> Response:
    """List the newest views of unmasked personal data (of one order, if given)."""
    views = await in_thread(personal_data_views, engine, order_id)
    return page(request, "personal_data.html", views=views, order_id=order_id)
