"""The review API: `/v1/review/…` for review tools, with a key of the `review` scope.

The pages at `/review…` (service.ui.review) call the same `ReviewDesk`, so a case
another reviewer holds is a `409` here and a message there.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Query

from service.auth.control import AccessControl
from service.auth.deps import AccessDep
from service.auth.guards import key_with_scope
from service.auth.masking import mask
from service.auth.policy import MaskingPolicy
from service.auth.principal import Principal
from service.blocking import in_thread
from service.errors import API_ERRORS
from service.inputs import PLAIN_TEXT
from service.persistence.cases import QueueFilter
from service.persistence.records import ReviewCase
from service.review.deps import ReviewDep
from service.review.schemas import (
    ActionIn,
    BulkIn,
    BulkResultOut,
    CaseDetailOut,
    CaseId,
    CaseOut,
    HistoryOut,
    StatsOut,
)
from service.review.service import Action, ReviewDesk

router = APIRouter(prefix="/v1/review", tags=["review"], responses=API_ERRORS)
Reviewer = Annotated[Principal, Depends(key_with_scope("review"))]


def case_out(case: ReviewCase, policy: MaskingPolicy, role: str) -> CaseOut:
    """Return a case for the API, its order id passed through the masking policy."""
    shown = mask(policy, role, {"order_id": case.order_id}).values.get("order_id")
    fields = {name: getattr(case, name) for name in CaseOut.model_fields if name != "order_id"}
    return CaseOut(order_id=shown, **fields)


@router.get("/cases")
async def list_cases(
    principal: Reviewer,
    desk: ReviewDep,
    access: AccessDep,
    tier: Annotated[str | None, Query(max_length=16, pattern=PLAIN_TEXT)] = None,
    top_reason: Annotated[str | None, Query(max_length=64, pattern=PLAIN_TEXT)] = None,
    family: Annotated[str | None, Query(max_length=16, pattern=PLAIN_TEXT)] = None,
    min_amount: Annotated[float | None, Query(ge=0, le=1e12)] = None,
    max_amount: Annotated[float | None, Query(ge=0, le=1e12)] = None,
    older_than_minutes: Annotated[int | None, Query(ge=0, le=525_600)] = None,
    assignee: Annotated[str | None, Query(max_length=64, pattern=PLAIN_TEXT)] = None,
) -> list[CaseOut]:
    """List open cases, highest priority first (SLA about to run out, then expected loss)."""
    older = timedelta(minutes=older_than_minutes) if older_than_minutes is not None else None
    wanted = QueueFilter(tier, top_reason, family, min_amount, max_amount, older, assignee)
    found = await in_thread(desk.queue, principal, wanted)
    return [case_out(case, access.policy, principal.role) for case in found]


@router.post("/cases/next")
async def next_case(principal: Reviewer, desk: ReviewDep, access: AccessDep) -> CaseOut | None:
    """Claim the highest-priority free case; null when the queue is empty."""
    found = await in_thread(desk.next_case, principal)
    return case_out(found, access.policy, principal.role) if found else None


@router.get("/cases/{case_id}")
async def get_case(
    case_id: CaseId, principal: Reviewer, desk: ReviewDep, access: AccessDep
) -> CaseDetailOut:
    """Return one case and its history."""
    found = await in_thread(desk.case, case_id)
    history = await in_thread(desk.history, case_id)
    out = case_out(found, access.policy, principal.role)
    return CaseDetailOut(
        **out.model_dump(),
        history=[
            HistoryOut(**{n: getattr(h, n) for n in HistoryOut.model_fields}) for h in history
        ],
    )


@router.post("/cases/{case_id}/claim")
async def claim_case(
    case_id: CaseId, principal: Reviewer, desk: ReviewDep, access: AccessDep
) -> CaseOut:
    """Claim one case (409 if another reviewer holds it)."""
    found = await in_thread(desk.claim, principal, case_id)
    return case_out(found, access.policy, principal.role)


@router.post("/cases/{case_id}/release", status_code=204)
async def release_case(case_id: CaseId, principal: Reviewer, desk: ReviewDep) -> None:
    """Give a claimed case back to the queue."""
    await in_thread(desk.release, principal, case_id)


async def _act(
    principal: Principal,
    desk: ReviewDesk,
    access: AccessControl,
    case_id: str,
    action: Action,
    body: ActionIn,
) -> CaseOut:
    found = await in_thread(
        desk.act, principal, case_id, action, body.reason_code, body.note, body.scenario
    )
    return case_out(found, access.policy, principal.role)


@router.post("/cases/{case_id}/approve")
async def approve_case(
    case_id: CaseId, body: ActionIn, principal: Reviewer, desk: ReviewDep, access: AccessDep
) -> CaseOut:
    """Approve: the stock is released and the order labelled legit."""
    return await _act(principal, desk, access, case_id, "approve", body)


@router.post("/cases/{case_id}/reject")
async def reject_case(
    case_id: CaseId, body: ActionIn, principal: Reviewer, desk: ReviewDep, access: AccessDep
) -> CaseOut:
    """Reject: the order is cancelled and labelled fraud with its scenario."""
    return await _act(principal, desk, access, case_id, "reject", body)


@router.post("/cases/{case_id}/escalate")
async def escalate_case(
    case_id: CaseId, body: ActionIn, principal: Reviewer, desk: ReviewDep, access: AccessDep
) -> CaseOut:
    """Send the case to the senior reviewers; it stays frozen."""
    return await _act(principal, desk, access, case_id, "escalate", body)


@router.post("/bulk")
async def bulk(body: BulkIn, principal: Reviewer, desk: ReviewDep) -> list[BulkResultOut]:
    """Approve or reject several cases, each as its own decision."""
    results = await in_thread(
        desk.bulk,
        principal,
        body.case_ids,
        body.action,
        body.reason_code,
        body.note,
        body.scenario,
    )
    return [BulkResultOut(case_id=r.case_id, ok=r.ok, message=r.message) for r in results]


@router.get("/stats")
async def stats(_: Reviewer, desk: ReviewDep) -> StatsOut:
    """Return the queue's figures over the last day."""
    figures = await in_thread(desk.stats)
    return StatsOut(
        open_cases=figures.open_cases,
        oldest_open_seconds=figures.oldest_open.total_seconds() if figures.oldest_open else None,
        past_sla=figures.past_sla,
        expired=figures.expired,
        decided=figures.decided,
        decisions_per_reviewer_per_hour=figures.per_reviewer_per_hour,
        overturned_share=figures.overturned_share,
    )
