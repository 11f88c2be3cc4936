"""The admin page of webhooks: endpoints, the delivery log, and retrying a failed delivery."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from service.auth.guards import signed_in
from service.auth.principal import Principal
from service.blocking import in_thread
from service.deps import EngineDep, SettingsDep
from service.persistence.errors import InvalidRecord, NotFound
from service.persistence.webhooks import list_deliveries, list_endpoints
from service.ui.templates import page
from service.webhooks.service import retry, shown_url

router = APIRouter(include_in_schema=False, default_response_class=HTMLResponse)
Admin = Annotated[Principal, Depends(signed_in("admin"))]


@router.get("/admin/webhooks")
async def webhooks(request: Request, _: Admin, engine: EngineDep) -> Response:
    """Show the endpoints (never their secrets) and the newest deliveries."""
    endpoints = await in_thread(list_endpoints, engine)
    deliveries = await in_thread(list_deliveries, engine)
    now = datetime.now(UTC)
    return page(
        request,
        "webhooks.html",
        endpoints=endpoints,
        deliveries=deliveries,
        now=now,
        shown_url=shown_url,
    )


@router.post("/admin/webhooks/deliveries/{delivery_id}/retry")
async def retry_failed(
    request: Request,
    delivery_id: Annotated[int, Path(ge=1, le=2**31 - 1)],
    _: Admin,
    engine: EngineDep,
    settings: SettingsDep,
) -> Response:
    """Queue a failed delivery again and go back to the page."""
    try:
        await in_thread(retry, engine, settings, delivery_id)
    except NotFound as error:
        return page(request, "error.html", 404, title="No such delivery", message=str(error))
    except InvalidRecord as error:
        return page(request, "error.html", 409, title="Cannot retry", message=str(error))
    return RedirectResponse("/admin/webhooks", status_code=303)
