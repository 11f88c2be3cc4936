"""One error shape, {"error": ..., "detail": ...}; an expected failure is never a 500."""

from __future__ import annotations

from typing import Any, ClassVar

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy.exc import DataError
from starlette.exceptions import HTTPException as StarletteHTTPException

from features.state_stores import OnlineStoreUnavailable
from models.registry import RegistryError
from models.scorer import SpecMismatchError
from service.persistence.errors import (
    CaseClaimed,
    CaseClosed,
    ConflictingRequest,
    DatabaseUnavailable,
    InvalidRecord,
    InvalidTransition,
)
from service.persistence.errors import NotFound as RecordNotFound


class ErrorBody(BaseModel):
    """The body of every error response.

    A 409 for a repeated id with another body also names the stored record:
    `decision_id`, `label_id` or `payment_id`.
    """

    error: str
    detail: Any = None


class DomainError(Exception):
    """A failure the service expects and answers with a status code."""

    status = 400
    code = "bad_request"
    headers: ClassVar[dict[str, str] | None] = None

    def __init__(self, detail: Any = None) -> None:
        super().__init__(detail)
        self.detail = detail


class NotFound(DomainError):
    status, code = 404, "not_found"


class Unavailable(DomainError):
    status, code = 503, "unavailable"


class PayloadTooLarge(DomainError):
    status, code = 413, "payload_too_large"


class InvalidInput(DomainError):
    """A request that parsed but does not fit what is stored: a 422 naming its field.

    Its detail has the shape of a request validation error's.
    """

    status, code = 422, "invalid_request"

    def __init__(self, field: str, message: str) -> None:
        super().__init__([{"field": field, "message": message}])


# The error answers every /v1/ route documents in OpenAPI.
API_ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorBody} for code in (400, 401, 403, 404, 409, 413, 422, 429, 503)
}


def _body(
    code: str,
    detail: Any,
    status: int,
    headers: dict[str, str] | None = None,
    extra: dict[str, Any] | None = None,
) -> JSONResponse:
    body = {**ErrorBody(error=code, detail=detail).model_dump(), **(extra or {})}
    return JSONResponse(body, status_code=status, headers=headers)


def _field(location: tuple[Any, ...]) -> str:
    parts = [str(p) for p in location if p not in ("body", "query", "path")]
    return ".".join(parts) or "body"


def _problem(error: dict[str, Any]) -> dict[str, str]:
    """Return one validation error as {field, message}; a body that is no JSON names `body`."""
    location = tuple(error.get("loc", ()))
    if error.get("type") == "json_invalid":  # its location is a character offset, no field
        reason = (error.get("ctx") or {}).get("error", "")
        offset = location[-1] if location else "?"
        return {"field": "body", "message": f"not JSON at character {offset}: {reason}"}
    return {"field": _field(location), "message": error.get("msg", "invalid")}


async def _validation(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    return _body("invalid_request", [_problem(e) for e in exc.errors()], 422)


def error_response(error: DomainError) -> JSONResponse:
    """Return the response of an expected failure."""
    return _body(error.code, error.detail, error.status, error.headers)


async def _domain(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, DomainError)
    return error_response(exc)


async def _http(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    # 400: a body the JSON parser gave up on (nested too deep, not UTF-8).
    code = {
        400: "invalid_request",
        404: "not_found",
        405: "method_not_allowed",
        401: "unauthorized",
    }.get(exc.status_code, "http_error")
    return _body(code, exc.detail, exc.status_code)


async def _unavailable(_: Request, exc: Exception) -> JSONResponse:
    return _body("unavailable", str(exc), 503)


async def _missing(_: Request, exc: Exception) -> JSONResponse:
    return _body("not_found", str(exc), 404)


async def _conflict(_: Request, exc: Exception) -> JSONResponse:
    return _body("conflict", str(exc), 409)


async def _changed(_: Request, exc: Exception) -> JSONResponse:
    """Answer a repeated identity with another body: 409, naming the stored record's id."""
    assert isinstance(exc, ConflictingRequest)
    return _body("conflict", str(exc), 409, extra={f"{exc.kind}_id": exc.record_id})


async def _invalid(_: Request, exc: Exception) -> JSONResponse:
    return _body("invalid_request", str(exc), 422)


async def _refused_by_database(_: Request, exc: Exception) -> JSONResponse:
    # A value the database cannot hold (PostgreSQL refuses NUL in text) that slipped
    # past validation: the request's fault, never a 500.
    return _body("invalid_request", "a value the database cannot store", 422)


def install(app: FastAPI) -> None:
    """Map every expected failure of every layer to its status and the one error shape."""
    app.add_exception_handler(RequestValidationError, _validation)
    app.add_exception_handler(DomainError, _domain)
    app.add_exception_handler(StarletteHTTPException, _http)
    for unavailable in (
        DatabaseUnavailable,
        OnlineStoreUnavailable,
        RegistryError,
        SpecMismatchError,
    ):
        app.add_exception_handler(unavailable, _unavailable)
    app.add_exception_handler(RecordNotFound, _missing)
    for conflict in (CaseClosed, CaseClaimed, InvalidTransition):
        app.add_exception_handler(conflict, _conflict)
    app.add_exception_handler(ConflictingRequest, _changed)
    app.add_exception_handler(InvalidRecord, _invalid)
    app.add_exception_handler(DataError, _refused_by_database)
