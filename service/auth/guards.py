"""Every route declares who may call it: the public, a key with a scope, or signed-in roles.

A guard is a FastAPI dependency that carries its `Access`. The app refuses to
start with a route that has none (`unguarded_routes`), so a new route cannot
ship open by accident; the route-by-role test reads the same table.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, Any, ClassVar, Literal, NoReturn

from fastapi import Depends, FastAPI, Request
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute, iter_route_contexts
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from service.auth.credentials import same
from service.auth.deps import access as access_of
from service.auth.keys import key_principal
from service.auth.principal import Principal
from service.auth.rate_limit import RateLimited, RateLimits
from service.auth.roles import PERSON_ROLES, SCOPES
from service.auth.sessions import SESSION_COOKIE
from service.blocking import in_thread
from service.deps import engine as engine_of
from service.errors import DomainError

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# Declares the bearer scheme in OpenAPI (the docs' "Authorize" button); the guard answers
# a missing key itself, in the one error shape.
BEARER = HTTPBearer(auto_error=False, description="an API key from `ordershield keys create`")
BearerCredentials = Annotated[HTTPAuthorizationCredentials | None, Depends(BEARER)]


class Unauthorized(DomainError):
    status, code = 401, "unauthorized"
    headers: ClassVar[dict[str, str] | None] = {"WWW-Authenticate": "Bearer"}


class Forbidden(DomainError):
    status, code = 403, "forbidden"


class SignInRequired(Exception):
    """A page was asked for without a live session."""

    def __init__(self, next_path: str) -> None:
        super().__init__(next_path)
        self.next_path = next_path


class PageForbidden(Exception):
    """A signed-in person asked for a page their role may not see, or sent a bad CSRF token."""


@dataclass(frozen=True)
class Access:
    """Who may call a route."""

    kind: Literal["public", "key", "session"]
    scope: str | None = None
    roles: frozenset[str] = frozenset()


Guard = Callable[..., Awaitable[Any]]


def _guard(access: Access, check: Guard) -> Guard:
    check.access = access  # type: ignore[attr-defined]
    return check


async def _nobody(_: Request) -> None:
    return None


PUBLIC = _guard(Access("public"), _nobody)


def key_with_scope(scope: str) -> Guard:
    """Require `Authorization: Bearer <API key>` of a live key holding `scope`.

    Each key's calls count against its rate limit, and each client's calls
    without a live key against a limit of their own (`service.auth.rate_limit`).
    """
    if scope not in SCOPES:
        raise ValueError(f"unknown scope {scope!r}")

    async def check(request: Request, credentials: BearerCredentials) -> Principal:
        limits = (await access_of(request)).limits
        if credentials is None or credentials.scheme.lower() != "bearer":
            await _refuse_key(request, limits, "send an API key as 'Authorization: Bearer <key>'")
        token = credentials.credentials
        engine = await engine_of(request)
        principal = await in_thread(key_principal, engine, token)
        if principal is None:
            await _refuse_key(request, limits, "unknown or revoked API key")
        if wait := await limits.key_call(principal.id):
            raise RateLimited(wait)
        if scope not in principal.scopes:
            raise Forbidden(f"this key lacks the scope {scope!r}")
        request.state.principal = principal
        return principal

    return _guard(Access("key", scope=scope), check)


async def _refuse_key(request: Request, limits: RateLimits, detail: str) -> NoReturn:
    """Refuse a call without a live key: 401, or 429 once its client failed too often."""
    client = request.client.host if request.client else "unknown"
    if wait := await limits.failed_attempt(client):
        raise RateLimited(wait)
    raise Unauthorized(detail)


def signed_in(*roles: str) -> Guard:
    """Require a live session of one of `roles` (any role when none is given).

    A state-changing request must also carry the session's CSRF token in its
    `csrf_token` form field.
    """
    allowed = frozenset(roles or PERSON_ROLES)
    if unknown := allowed - set(PERSON_ROLES):
        raise ValueError(f"unknown roles {sorted(unknown)}")

    async def check(request: Request) -> Principal:
        sessions = (await access_of(request)).sessions
        principal = await in_thread(sessions.principal, request.cookies.get(SESSION_COOKIE))
        if principal is None:
            raise SignInRequired(_back_here(request))
        request.state.principal = principal  # the refusal page shows who is signed in
        if principal.role not in allowed:
            raise PageForbidden(f"the role {principal.role} may not open this page")
        if request.method not in SAFE_METHODS:
            form = await request.form()
            given = form.get("csrf_token")
            if not isinstance(given, str) or not same(given, principal.csrf_token or ""):
                raise PageForbidden("the form's CSRF token is missing or wrong; reload the page")
        return principal

    return _guard(Access("session", roles=allowed), check)


def _back_here(request: Request) -> str:
    """Return where to come back after signing in: this page, or the start for a form's target."""
    if request.method not in SAFE_METHODS:
        return "/"
    query = request.url.query
    return f"{request.url.path}?{query}" if query else request.url.path


def routes_with_access(app: FastAPI) -> list[tuple[str, str, Access | None]]:
    """Return (method, path, declared access) of every API route, as the app serves them."""
    found: list[tuple[str, str, Access | None]] = []
    for context in iter_route_contexts(app.routes):
        route = context.original_route
        if isinstance(route, APIRoute):
            access = _find(route.dependant)
            found += [(method, str(context.path), access) for method in sorted(route.methods or ())]
    return found


def _find(dependant: Dependant) -> Access | None:
    found: Access | None = getattr(dependant.call, "access", None)
    for child in dependant.dependencies:
        found = found or _find(child)
    return found


def unguarded_routes(app: FastAPI) -> list[str]:
    """Return the routes that declare no access: API routes without a guard, and anything
    else (mounts, websockets, plain routes, FastAPI's own docs pages)."""
    others = [
        f"{type(context.original_route).__name__} {context.path}"
        for context in iter_route_contexts(app.routes)
        if not isinstance(context.original_route, APIRoute)
    ]
    unguarded = [f"{m} {p}" for m, p, access in routes_with_access(app) if access is None]
    return unguarded + others
