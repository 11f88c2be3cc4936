"""Jinja2 templates of the web UI (autoescaped), and the page-level error answers."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from service.auth.guards import PageForbidden, SignInRequired

TEMPLATES = Jinja2Templates(directory=Path(__file__).with_name("templates"))


def page(request: Request, name: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    """Render a page; every page gets the signed-in person, if any."""
    context.setdefault("principal", getattr(request.state, "principal", None))
    response = TEMPLATES.TemplateResponse(request, name, context, status_code=status_code)
    # Pages may show personal data: keep them out of shared and browser caches. The policy
    # that keeps them out of other sites' frames is on every response
    # (`service.security_headers`).
    response.headers["Cache-Control"] = "no-store"
    return response


async def _sign_in(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, SignInRequired)
    return RedirectResponse(f"/login?next={quote(exc.next_path)}", status_code=303)


async def _forbidden(request: Request, exc: Exception) -> Response:
    return page(request, "error.html", 403, title="Not allowed", message=str(exc))


def install(app: FastAPI) -> None:
    """Answer pages' access failures as pages: a sign-in redirect or a 403 page."""
    app.add_exception_handler(SignInRequired, _sign_in)
    app.add_exception_handler(PageForbidden, _forbidden)
