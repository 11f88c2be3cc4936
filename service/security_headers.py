"""Security headers on every response, as plain ASGI middleware around the whole app.

One place sets them for pages, the API, static files, the API docs and every
error: a 404, a 413 of the body limit, and the 500 of an unexpected failure
too, since `install` puts the middleware outside Starlette's last-resort error
handler. A header a route set itself is replaced, so nothing can weaken them.

Nothing in the pages or the docs is inline, so the policy lets scripts, styles
and requests come from this origin only (an escaping slip in a template cannot
run script or restyle the page); `default-src 'none'` refuses everything else
(objects, frames, fonts, workers) without naming it.
`Referrer-Policy: no-referrer`, because order ids and searches travel in URLs.
"""

from __future__ import annotations

from fastapi import FastAPI
from starlette.types import ASGIApp, Message, Receive, Scope, Send

CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
HEADERS: list[tuple[bytes, bytes]] = [
    (b"content-security-policy", CSP.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),  # frame-ancestors, for browsers that predate it
]
NAMES = frozenset(name for name, _ in HEADERS)


class SecurityHeaders:
    """Set `HEADERS` on every HTTP response of `app`."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass the request on; add the headers as the response starts."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                kept = [(k, v) for k, v in message.get("headers", ()) if k.lower() not in NAMES]
                message = {**message, "headers": [*kept, *HEADERS]}
            await send(message)

        await self.app(scope, receive, with_headers)


def install(app: FastAPI) -> None:
    """Wrap the app's whole middleware stack, its outermost error handler included."""
    build = app.build_middleware_stack

    def wrapped() -> ASGIApp:
        return SecurityHeaders(build())

    app.build_middleware_stack = wrapped  # type: ignore[method-assign]
