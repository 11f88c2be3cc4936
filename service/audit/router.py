"""Exports of the audit log for legal: evidence bundles, PDFs and date-range exports.

Signed-in legal and admin people only, by their session as the legal panel's
pages are; each export is an entry of the audit log naming who asked. A signed
bundle goes only to a role that sees every attribute unmasked (legal, by the
shipped policy): another role is answered 403, and its PDF comes without one.
An order id with a control character is a 422 before anything is read.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Depends, Path, Query
from fastapi.responses import Response, StreamingResponse
from sqlalchemy import Engine

from service.audit.evidence import build_evidence
from service.audit.export import (
    BundleRefused,
    ExportFormat,
    InvalidExport,
    build_bundle,
    bundle_roles,
    export_decisions,
    pdf_bundle,
)
from service.audit.log import CheckpointRefused
from service.audit.pdf import evidence_pdf
from service.audit.signing import SigningKeyError
from service.auth.control import AccessControl
from service.auth.deps import AccessDep
from service.auth.guards import Forbidden, signed_in
from service.auth.principal import Principal
from service.blocking import in_thread
from service.deps import EngineDep, SettingsDep
from service.errors import DomainError, Unavailable
from service.inputs import NO_CONTROL, has_control
from service.settings import ServiceSettings

router = APIRouter(include_in_schema=False)
EXPORT_ROLES = ("legal", "admin")
Exporter = Annotated[Principal, Depends(signed_in(*EXPORT_ROLES))]
OrderId = Annotated[str, Path(min_length=1, max_length=200)]
MEDIA = {"ndjson": "application/x-ndjson", "csv": "text/csv; charset=utf-8"}
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


class InvalidExportRequest(DomainError):
    """An export asked for with a bad input: answered 422, naming the field."""

    status, code = 422, "invalid_request"


def _refused(error: InvalidExport) -> InvalidExportRequest:
    """Return the 422 of a refused export, in the shape of a request validation error."""
    return InvalidExportRequest([{"field": error.field, "message": error.message}])


def _check_order_id(order_id: str) -> None:
    """Refuse an order id no order can have before anything is read (NUL breaks PostgreSQL)."""
    if has_control(order_id):
        raise InvalidExportRequest([{"field": "order_id", "message": NO_CONTROL}])


def _attachment(name: str) -> dict[str, str]:
    """Return the header that saves the answer as a file of this name (quoted safely)."""
    return {"Content-Disposition": f'attachment; filename="{_UNSAFE.sub("_", name)}"'}


def _download(content: bytes, media_type: str, name: str) -> Response:
    """Return content to save as a file of this name."""
    return Response(content, media_type=media_type, headers=_attachment(name))


def _no_key(error: SigningKeyError | CheckpointRefused) -> Unavailable:
    if isinstance(error, CheckpointRefused):
        return Unavailable(f"no checkpoint can be signed: {error}")
    return Unavailable(f"the audit signing key cannot be used: {error}")


async def _signed_bundle(
    engine: Engine,
    settings: ServiceSettings,
    order_id: str,
    principal: Principal,
    access: AccessControl,
) -> dict[str, Any]:
    """Return the order's signed bundle as the principal may see it; no usable key is a 503."""
    try:
        return await in_thread(
            build_bundle,
            engine,
            settings,
            order_id,
            principal.role,
            access.policy,
            actor=principal.actor,
        )
    except (SigningKeyError, CheckpointRefused) as error:
        raise _no_key(error) from error


@router.get("/legal/decisions/{order_id}/bundle.json")
async def bundle_json(
    order_id: OrderId,
    principal: Exporter,
    engine: EngineDep,
    settings: SettingsDep,
    access: AccessDep,
) -> Response:
    """Download the signed evidence bundle of a decision, checkable offline."""
    _check_order_id(order_id)
    try:
        bundle = await _signed_bundle(engine, settings, order_id, principal, access)
    except BundleRefused as error:
        raise Forbidden(error.message) from error
    except InvalidExport as error:
        raise _refused(error) from error
    body = orjson.dumps(bundle, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS)
    return _download(body, "application/json", f"evidence-{order_id}.json")


@router.get("/legal/decisions/{order_id}/evidence.pdf")
async def evidence_pdf_file(
    order_id: OrderId,
    principal: Exporter,
    engine: EngineDep,
    settings: SettingsDep,
    access: AccessDep,
) -> Response:
    """Download a decision's evidence as a PDF, with the checkpoint its bundle is proved by.

    A role that may not receive the bundle gets the PDF without it, which says
    which role exports the bundle.
    """
    _check_order_id(order_id)
    evidence = await in_thread(build_evidence, engine, settings, principal, order_id, access=access)
    try:
        bundle = await in_thread(
            pdf_bundle,
            engine,
            settings,
            order_id,
            principal.role,
            access.policy,
            actor=principal.actor,
        )
    except (SigningKeyError, CheckpointRefused) as error:
        raise _no_key(error) from error
    except InvalidExport as error:
        raise _refused(error) from error
    document = await in_thread(evidence_pdf, evidence, bundle, bundle_roles(access.policy))
    return _download(document, "application/pdf", f"evidence-{order_id}.pdf")


@router.get("/legal/export")
async def export(
    principal: Exporter,
    engine: EngineDep,
    access: AccessDep,
    start: Annotated[datetime, Query(description="first decision time, with its zone")],
    end: Annotated[datetime, Query(description="end of the range (excluded), with its zone")],
    fmt: Annotated[ExportFormat, Query(alias="format")] = "ndjson",
) -> StreamingResponse:
    """Stream the decisions made in `[start, end)`, masked for the role, as NDJSON or CSV."""
    try:
        chunks = await in_thread(
            export_decisions,
            engine,
            start,
            end,
            principal.role,
            access.policy,
            fmt,
            principal.actor,
        )
    except InvalidExport as error:
        raise _refused(error) from error
    name = f"decisions-{start:%Y%m%dT%H%M%S}-{end:%Y%m%dT%H%M%S}.{fmt}"
    return StreamingResponse(chunks, media_type=MEDIA[fmt], headers=_attachment(name))
