"""The legal panel's pages: search, a decision's evidence, replay, counterfactual, models.

Legal and admin only. Every order attribute passes the masking policy (the
evidence through `show_order`, which logs unmasked personal data); features
computed from what the role may not see are withheld, and the counterfactual
never changes them. A search filter that cannot be used is answered with the
search page again, the field named, and status 422; an order id with a control
character (which no order has, and PostgreSQL cannot even bind) is a 422 too,
before anything is read or written.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import HTMLResponse, Response

from models.registry import RegistryError
from service.audit.evidence import Evidence, build_evidence, model_facts
from service.audit.export import may_bundle
from service.audit.insights import importance_chart, version_insights
from service.audit.replay import counterfactual, replay
from service.auth.deps import AccessDep
from service.auth.guards import signed_in
from service.auth.masking import derived_visibility, mask
from service.auth.principal import Principal
from service.blocking import in_thread
from service.deps import EngineDep, SettingsDep
from service.errors import NotFound
from service.inputs import NO_CONTROL, has_control
from service.persistence import decision_by_order
from service.persistence.audit_search import (
    ACTIONS,
    ENTITY_KINDS,
    MAX_LIMIT,
    OUT_OF_RANGE,
    TIERS,
    DecisionQuery,
    InvalidQuery,
    search_decisions,
    stored_versions,
)
from service.persistence.records import DecisionRecord
from service.ui.charts import waterfall
from service.ui.templates import page

router = APIRouter(include_in_schema=False, default_response_class=HTMLResponse)
LEGAL_ROLES = ("legal", "admin")
Auditor = Annotated[Principal, Depends(signed_in(*LEGAL_ROLES))]
OrderId = Annotated[str, Path(min_length=1, max_length=200)]
Version = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._-]+$")]
ModelName = Annotated[str | None, Query(max_length=128, pattern=r"^[A-Za-z0-9._-]+$")]
Text = Annotated[str, Query(max_length=256)]
TEXT_FILTERS = ("order_id", "customer_id", "entity_key", "reason", "model_version", "reviewer")


def _when(field: str, text: str, end: bool = False) -> datetime | None:
    """Return a filter's time: ISO date or date-time, UTC when it names no zone.

    The search checks the range of the time; only the day after the
    calendar's last one, which has no `datetime`, is refused here.
    """
    if not text:
        return None
    try:
        if len(text) == 10:
            day = date.fromisoformat(text)
            moment = datetime(day.year, day.month, day.day, tzinfo=UTC)
            return moment + timedelta(days=1) if end else moment  # a whole day, end included
        parsed = datetime.fromisoformat(text)
    except OverflowError as error:
        raise InvalidQuery(field, OUT_OF_RANGE) from error
    except ValueError as error:
        raise InvalidQuery(field, "must be a date (2024-03-01) or a date and time") from error
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _query(wanted: dict[str, str], limit: int, offset: int) -> DecisionQuery:
    """Return the search of the form's fields (blank ones are no filter)."""
    given = {name: (wanted[name].strip() or None) for name in wanted}
    return DecisionQuery(
        **{name: given[name] for name in (*TEXT_FILTERS, "entity_kind", "tier", "action")},
        start=_when("start", wanted["start"].strip()),
        end=_when("end", wanted["end"].strip(), end=True),
        limit=limit,
        offset=offset,
    )


def _export_range() -> dict[str, str]:
    end = datetime.now(UTC).replace(microsecond=0)
    return {"start": (end - timedelta(days=7)).isoformat(), "end": end.isoformat()}


@router.get("/legal")
async def search_page(
    request: Request,
    principal: Auditor,
    engine: EngineDep,
    access: AccessDep,
    order_id: Text = "",
    customer_id: Text = "",
    entity_kind: Text = "",
    entity_key: Text = "",
    start: Text = "",
    end: Text = "",
    tier: Text = "",
    action: Text = "",
    reason: Text = "",
    model_version: Text = "",
    reviewer: Text = "",
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 50,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> Response:
    """Search decisions by order, customer, entity, time, tier, action, reason, model, reviewer."""
    wanted = {
        "order_id": order_id,
        "customer_id": customer_id,
        "entity_kind": entity_kind,
        "entity_key": entity_key,
        "start": start,
        "end": end,
        "tier": tier,
        "action": action,
        "reason": reason,
        "model_version": model_version,
        "reviewer": reviewer,
    }
    context: dict[str, Any] = {
        "wanted": wanted,
        "kinds": ENTITY_KINDS,
        "tiers": TIERS,
        "actions": ACTIONS,
        "export": _export_range(),
        "versions": await in_thread(stored_versions, engine),
        "found": None,
        "error": "",
    }
    try:
        found = await in_thread(search_decisions, engine, _query(wanted, limit, offset))
    except InvalidQuery as refused:
        context["error"] = str(refused)
        return page(request, "legal_search.html", 422, **context)
    policy, role = access.policy, principal.role
    customers = {
        hit.decision_id: mask(policy, role, {"customer.id": hit.customer_id}).values.get(
            "customer.id"
        )
        for hit in found.hits
    }
    shown = {k: v for k, v in wanted.items() if v}
    pages = {
        "previous": urlencode({**shown, "limit": limit, "offset": max(offset - limit, 0)})
        if offset
        else None,
        "next": urlencode({**shown, "limit": limit, "offset": offset + limit})
        if found.more
        else None,
    }
    context.update(found=found, customers=customers, pages=pages)
    return page(request, "legal_search.html", **context)


def _waterfall(evidence: Evidence) -> Any:
    contributions = [(row.name, row.contribution) for row in evidence.features]
    if not contributions:
        return None
    return waterfall(evidence.base_value, contributions, evidence.score)


def _unusable(order_id: str) -> str | None:
    """Return why an order id cannot name any order, or None when it can."""
    return f"order_id: {NO_CONTROL}" if has_control(order_id) else None


@router.get("/legal/decisions/{order_id}")
async def evidence_page(
    request: Request,
    order_id: OrderId,
    principal: Auditor,
    engine: EngineDep,
    settings: SettingsDep,
    access: AccessDep,
) -> Response:
    """Show a decision's evidence: summary, order, features, model, what followed, log."""
    if refused := _unusable(order_id):
        return page(request, "error.html", 422, title="Not a usable order id", message=refused)
    try:
        evidence = await in_thread(
            build_evidence, engine, settings, principal, order_id, access=access
        )
    except NotFound as missing:
        return page(request, "error.html", 404, title="Not found", message=str(missing.detail))
    bundled = may_bundle(access.policy, principal.role)
    chart = _waterfall(evidence)
    return page(request, "legal_evidence.html", evidence=evidence, chart=chart, bundled=bundled)


async def _record(engine: EngineDep, order_id: str) -> DecisionRecord | None:
    return await in_thread(decision_by_order, engine, order_id)


def _fragment(request: Request, name: str, status: int = 200, **context: Any) -> Response:
    """Answer htmx with the fragment alone; a plain form post gets it inside a page."""
    if request.headers.get("HX-Request") == "true":
        return page(request, name, status, **context)
    return page(request, "legal_result.html", status, fragment=name, **context)


@router.post("/legal/decisions/{order_id}/replay")
async def replay_decision(
    request: Request,
    order_id: OrderId,
    principal: Auditor,
    engine: EngineDep,
    settings: SettingsDep,
) -> Response:
    """Re-score the stored vector on the archived model and compare every quantity."""
    if refused := _unusable(order_id):
        return _fragment(request, "legal_replay.html", 422, order_id="", failure=refused)
    record = await _record(engine, order_id)
    if record is None:
        return _fragment(
            request, "legal_replay.html", 404, order_id=order_id, failure="no such order"
        )
    try:
        result = await in_thread(replay, settings, record)
    except RegistryError as error:
        return _fragment(request, "legal_replay.html", 503, order_id=order_id, failure=str(error))
    return _fragment(request, "legal_replay.html", order_id=order_id, result=result, failure="")


@router.post("/legal/decisions/{order_id}/counterfactual")
async def counterfactual_of(
    request: Request,
    order_id: OrderId,
    principal: Auditor,
    engine: EngineDep,
    settings: SettingsDep,
    access: AccessDep,
) -> Response:
    """Find the smallest change of the stored vector that would have let the order through."""
    name = "legal_counterfactual.html"
    if refused := _unusable(order_id):
        return _fragment(request, name, 422, order_id="", failure=refused)
    record = await _record(engine, order_id)
    if record is None:
        return _fragment(request, name, 404, order_id=order_id, failure="no such order")
    # What the role may not see, the counterfactual may not change (nor so reveal).
    fixed = {
        feature
        for feature, seen in derived_visibility(access.policy, principal.role).items()
        if seen != "visible"
    }
    try:
        outcome = await in_thread(counterfactual, settings, record, fixed)
    except RegistryError as error:
        return _fragment(request, name, 503, order_id=order_id, failure=str(error))
    return _fragment(request, name, order_id=order_id, outcome=outcome, failure="")


@router.get("/legal/models/{version}")
async def model_page(
    request: Request,
    version: Version,
    principal: Auditor,
    engine: EngineDep,
    settings: SettingsDep,
    model: ModelName = None,
) -> Response:
    """Show how a model version decided: mean |SHAP|, tiers and actions per day, overturns."""
    name = model or settings.model_name
    insights = await in_thread(version_insights, engine, name, version)
    if not insights.decisions:
        message = f"no stored decision was made by model {name} version {version}"
        return page(request, "error.html", 404, title="Not found", message=message)
    facts = await in_thread(model_facts, settings, name, version)
    return page(
        request,
        "legal_model.html",
        insights=insights,
        facts=facts,
        chart=importance_chart(insights.importance),
        tiers=TIERS,
        actions=ACTIONS,
    )
