"""Sign-in and sign-out pages.

The sign-in form is protected against login CSRF with a double-submit cookie;
the sign-out form with the session's own token. The session cookie is
HttpOnly, SameSite=Lax, and Secure whenever the page is served over HTTPS.
"""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlsplit

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from service.auth.credentials import new_token, same
from service.auth.deps import AccessDep
from service.auth.guards import PUBLIC, signed_in
from service.auth.principal import Principal
from service.auth.sessions import SESSION_COOKIE
from service.blocking import in_thread
from service.ui.templates import page

router = APIRouter(include_in_schema=False)
LOGIN_CSRF_COOKIE = "ordershield_login_csrf"


def _safe_next(next_path: str | None) -> str:
    """Return a local path to go to after signing in (never another site)."""
    if not next_path or not next_path.startswith("/") or next_path.startswith("//"):
        return "/"
    if "\\" in next_path or not next_path.isprintable() or " " in next_path:
        return "/"
    parts = urlsplit(next_path)
    return "/" if parts.scheme or parts.netloc else next_path


def _secure(request: Request) -> bool:
    """Return whether cookies must be Secure: as configured, else when the page came over HTTPS."""
    configured: bool | None = request.state.settings.cookie_secure
    return request.url.scheme == "https" if configured is None else configured


def _login_page(request: Request, next_path: str, status: int = 200, error: str = "") -> Response:
    token = new_token()
    response = page(request, "login.html", status, csrf_token=token, next=next_path, error=error)
    response.set_cookie(
        LOGIN_CSRF_COOKIE,
        token,
        httponly=True,
        samesite="strict",
        secure=_secure(request),
        path="/login",
    )
    return response


@router.get("/login", response_class=HTMLResponse, dependencies=[Depends(PUBLIC)])
async def login_form(request: Request, next: str = "/") -> Response:
    """Show the sign-in form."""
    return _login_page(request, _safe_next(next))


@router.post("/login", response_class=HTMLResponse, dependencies=[Depends(PUBLIC)])
async def login(
    request: Request,
    access: AccessDep,
    username: Annotated[str, Form(max_length=64)],
    password: Annotated[str, Form(max_length=1024)],
    csrf_token: Annotated[str, Form()] = "",
    next: Annotated[str, Form()] = "/",
) -> Response:
    """Check the credentials; open a session, or count the failure."""
    next_path = _safe_next(next)
    if not same(request.cookies.get(LOGIN_CSRF_COOKIE), csrf_token):
        return _login_page(request, next_path, 403, "The form expired; please sign in again.")
    client = request.client.host if request.client else None
    locked = await in_thread(access.throttle.attempt, username, client)
    if locked is not None:
        minutes = max(1, round(locked.total_seconds() / 60))
        message = f"Too many failed sign-ins; try again in {minutes} minute(s)."
        return _login_page(request, next_path, 429, message)
    identity = await in_thread(access.identities.authenticate, username, password)
    if identity is None:
        return _login_page(request, next_path, 401, "Wrong username or password.")
    await in_thread(access.throttle.succeeded, username)
    # A fresh session every time, and the one this browser had (if any) ends.
    await in_thread(access.sessions.end, request.cookies.get(SESSION_COOKIE))
    token = await in_thread(access.sessions.start, identity)
    response = RedirectResponse(next_path, status_code=303)
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=int(access.sessions.lifetime.total_seconds()),
        httponly=True,
        samesite="lax",
        secure=_secure(request),
    )
    response.delete_cookie(LOGIN_CSRF_COOKIE, path="/login")
    return response


@router.post("/logout")
async def logout(
    request: Request, access: AccessDep, _: Annotated[Principal, Depends(signed_in())]
) -> Response:
    """End the session and go back to the sign-in page."""
    await in_thread(access.sessions.end, request.cookies.get(SESSION_COOKIE))
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE)
    return response
