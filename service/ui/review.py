"""The review desk's pages: the queue, a case with its evidence, and the reviewer's actions.

Every page takes the order from `show_order`, so it shows what the reviewer's
role may see (and logs unmasked personal data) exactly as the order page does.
A refusal (a case another reviewer holds, one decided meanwhile) is answered
with the page again and the reason, with status 409.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from service.auth.deps import AccessDep
from service.auth.guards import signed_in
from service.auth.masking import mask
from service.auth.policy import MaskingPolicy
from service.auth.principal import Principal
from service.blocking import in_thread
from service.deps import EngineDep
from service.inputs import PLAIN_TEXT
from service.orders.service import show_order
from service.persistence import decision_by_order
from service.persistence.cases import QueueFilter
from service.persistence.errors import (
    CaseClaimed,
    CaseClosed,
    InvalidRecord,
    InvalidTransition,
    NotFound,
    PersistenceError,
)
from service.persistence.links import linked_orders, links_of
from service.review.codes import REASON_CODES, SCENARIOS
from service.review.deps import ReviewDep
from service.review.schemas import CaseId
from service.review.service import REVIEWER_ROLES, ReviewDesk
from service.ui.evidence import ring_view, waterfall_view
from service.ui.templates import page

router = APIRouter(include_in_schema=False, default_response_class=HTMLResponse)
VIEWER_ROLES = ("reviewer", "senior_reviewer", "legal", "admin")
Viewer = Annotated[Principal, Depends(signed_in(*VIEWER_ROLES))]
Reviewer = Annotated[Principal, Depends(signed_in(*REVIEWER_ROLES))]
FAMILIES = ("device", "network", "payment", "address", "customer", "order")
TIERS = ("high", "critical")


def _filter(
    principal: Principal,
    tier: str | None,
    reason: str | None,
    family: str | None,
    min_amount: float | None,
    max_amount: float | None,
    older_than_minutes: int | None,
    assignee: str | None,
) -> QueueFilter:
    """Return the queue filter of the page's query (assignee `me`, `none` or any)."""
    who = {"me": principal.id, "none": ""}.get(assignee or "")
    older = timedelta(minutes=older_than_minutes) if older_than_minutes else None
    return QueueFilter(
        tier or None, reason or None, family or None, min_amount, max_amount, older, who
    )


FilterQuery = dict[str, Any]


def _query(
    tier: Annotated[str | None, Query(max_length=16, pattern=PLAIN_TEXT)] = None,
    reason: Annotated[str | None, Query(max_length=64, pattern=PLAIN_TEXT)] = None,
    family: Annotated[str | None, Query(max_length=16, pattern=PLAIN_TEXT)] = None,
    min_amount: Annotated[float | None, Query(ge=0, le=1e12)] = None,
    max_amount: Annotated[float | None, Query(ge=0, le=1e12)] = None,
    older_than_minutes: Annotated[int | None, Query(ge=0, le=525_600)] = None,
    assignee: Annotated[Literal["", "me", "none"] | None, Query()] = None,
) -> FilterQuery:
    return {
        "tier": tier,
        "reason": reason,
        "family": family,
        "min_amount": min_amount,
        "max_amount": max_amount,
        "older_than_minutes": older_than_minutes,
        "assignee": assignee,
    }


Filters = Annotated[FilterQuery, Depends(_query)]


def _rows(
    desk: ReviewDesk, policy: MaskingPolicy, principal: Principal, wanted: FilterQuery
) -> dict[str, Any]:
    now = datetime.now(UTC)
    cases = desk.queue(principal, _filter(principal, **wanted), now)
    # Order ids pass the masking policy too: nothing on these pages bypasses it.
    shown = {
        case.id: mask(policy, principal.role, {"order_id": case.order_id}).values.get("order_id")
        for case in cases
    }
    return {
        "cases": cases,
        "order_ids": shown,
        "now": now,
        "me": principal.id,
        "counts": desk.counts(),
    }


@router.get("/review")
async def queue_page(
    request: Request,
    principal: Viewer,
    desk: ReviewDep,
    access: AccessDep,
    wanted: Filters,
    empty: bool = False,
) -> Response:
    """Show the open cases by priority, with filters; the rows refresh every few seconds."""
    rows = await in_thread(_rows, desk, access.policy, principal, wanted)
    figures = await in_thread(desk.stats)
    shown = {k: v for k, v in wanted.items() if v not in (None, "")}
    return page(
        request,
        "review_queue.html",
        **rows,
        figures=figures,
        wanted=wanted,
        query=urlencode(shown),
        families=FAMILIES,
        tiers=TIERS,
        empty=empty,
        can_act=principal.role in REVIEWER_ROLES,
    )


@router.get("/review/rows")
async def queue_rows(
    request: Request, principal: Viewer, desk: ReviewDep, access: AccessDep, wanted: Filters
) -> Response:
    """Return the queue's rows and counts alone: what the queue page polls."""
    rows = await in_thread(_rows, desk, access.policy, principal, wanted)
    return page(request, "review_rows.html", **rows)


@router.post("/review/next")
async def next_case(principal: Reviewer, desk: ReviewDep) -> Response:
    """Claim the highest-priority free case and open it."""
    found = await in_thread(desk.next_case, principal)
    target = f"/review/cases/{found.id}" if found else "/review?empty=true"
    return RedirectResponse(target, status_code=303)


async def _case_page(
    request: Request,
    principal: Principal,
    desk: ReviewDep,
    access: AccessDep,
    engine: EngineDep,
    case_id: str,
    message: str = "",
    status: int = 200,
) -> Response:
    case = await in_thread(desk.case, case_id)
    shown = await in_thread(show_order, access, principal, case.order_id, "page")
    history = await in_thread(desk.history, case_id)
    own = await in_thread(links_of, engine, case.order_id)
    decision = await in_thread(decision_by_order, engine, case.order_id)
    around = decision.created_at if decision else case.opened_at
    linked = await in_thread(linked_orders, engine, case.order_id, around)
    policy, role = access.policy, principal.role
    # Linked orders are other orders: their ids and fate pass the masking policy as well.
    linked_ids = {
        o.order_id: mask(policy, role, {"order_id": o.order_id}).values.get("order_id")
        for o in linked
    }
    return page(
        request,
        "review_case.html",
        status,
        case=case,
        shown=shown,
        history=history,
        linked=linked,
        linked_ids=linked_ids,
        see_decisions=policy.visibility(role, "decision.tier") != "hidden",
        waterfall=waterfall_view(shown),
        ring=ring_view(own, linked, linked_ids),
        reasons=REASON_CODES,
        scenarios=SCENARIOS,
        message=message,
        now=datetime.now(UTC),
        mine=case.claimed_by == principal.id,
        can_act=principal.role in REVIEWER_ROLES,
    )


# What a refused change is answered with: the case page again, the reason, and this status.
REFUSAL_STATUS: tuple[tuple[type[PersistenceError], int], ...] = (
    (InvalidRecord, 422),
    (NotFound, 404),
    (CaseClaimed, 409),
    (CaseClosed, 409),
    (InvalidTransition, 409),
)


async def _refused(
    request: Request,
    principal: Principal,
    desk: ReviewDesk,
    access: AccessDep,
    engine: EngineDep,
    case_id: str,
    error: PersistenceError,
) -> Response:
    """Answer a refused change on the case page; an outage is not a refusal, it propagates."""
    status = next((code for kind, code in REFUSAL_STATUS if isinstance(error, kind)), None)
    if status is None:
        raise error
    if status == 404:
        return page(request, "error.html", 404, title="Not found", message=str(error))
    return await _case_page(request, principal, desk, access, engine, case_id, str(error), status)


@router.get("/review/cases/{case_id}")
async def case_page(
    request: Request,
    case_id: CaseId,
    principal: Viewer,
    desk: ReviewDep,
    access: AccessDep,
    engine: EngineDep,
    done: Annotated[str, Query(max_length=16)] = "",
) -> Response:
    """Show a case: the order, its reasons and waterfall, the ring of linked orders, history."""
    message = {"claimed": "You hold this case.", "released": "Claim released."}.get(done, "")
    try:
        return await _case_page(request, principal, desk, access, engine, case_id, message)
    except NotFound as missing:
        return page(request, "error.html", 404, title="Not found", message=str(missing))


@router.post("/review/cases/{case_id}/claim")
async def claim_case(
    request: Request,
    case_id: CaseId,
    principal: Reviewer,
    desk: ReviewDep,
    access: AccessDep,
    engine: EngineDep,
) -> Response:
    """Claim the case for the signed-in reviewer."""
    try:
        await in_thread(desk.claim, principal, case_id)
    except PersistenceError as refused:
        return await _refused(request, principal, desk, access, engine, case_id, refused)
    return RedirectResponse(f"/review/cases/{case_id}?done=claimed", status_code=303)


@router.post("/review/cases/{case_id}/release")
async def release_case(
    request: Request,
    case_id: CaseId,
    principal: Reviewer,
    desk: ReviewDep,
    access: AccessDep,
    engine: EngineDep,
) -> Response:
    """Give the case back to the queue."""
    try:
        await in_thread(desk.release, principal, case_id)
    except PersistenceError as refused:
        return await _refused(request, principal, desk, access, engine, case_id, refused)
    return RedirectResponse("/review", status_code=303)


@router.post("/review/cases/{case_id}/act")
async def act_on_case(
    request: Request,
    case_id: CaseId,
    principal: Reviewer,
    desk: ReviewDep,
    access: AccessDep,
    engine: EngineDep,
    action: Annotated[Literal["approve", "reject", "escalate"], Form()],
    reason_code: Annotated[str, Form(max_length=64)],
    note: Annotated[str, Form(max_length=2000)] = "",
    scenario: Annotated[str, Form(max_length=64)] = "",
    bulk: Annotated[list[CaseId] | None, Form(max_length=100)] = None,
) -> Response:
    """Approve, reject or escalate the case (and, for approve/reject, the selected linked cases)."""
    chosen = scenario if action == "reject" else None
    try:
        if action == "escalate" or not bulk:
            await in_thread(desk.act, principal, case_id, action, reason_code, note or None, chosen)
            return RedirectResponse(f"/review?done={action}", status_code=303)
        # The case itself first, alone: a refusal of it decides none of the others.
        await in_thread(desk.act, principal, case_id, action, reason_code, note or None, chosen)
    except PersistenceError as refused:
        return await _refused(request, principal, desk, access, engine, case_id, refused)
    others = [other for other in bulk if other != case_id]
    results = await in_thread(
        desk.bulk, principal, others, action, reason_code, note or None, chosen
    )
    failed = [r for r in results if not r.ok]
    if not failed:
        return RedirectResponse(f"/review?done={action}", status_code=303)
    message = f"{action}d this case and {len(results) - len(failed)} linked; refused: " + "; ".join(
        f"{r.case_id[:8]}: {r.message}" for r in failed
    )
    return await _case_page(request, principal, desk, access, engine, case_id, message)
