"""Request body size limit as plain ASGI middleware.

Plain ASGI rather than Starlette's `BaseHTTPMiddleware`, which wraps every
request in extra tasks and streams on the scoring path. It refuses a declared
`content-length` over the limit before the route runs, and a body sent without
one (chunked) as soon as the bytes received pass the limit.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.errors import PayloadTooLarge, error_response


class BodySizeLimit:
    """Answer 413 in the one error shape for request bodies over `limit` bytes."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Check the declared length, then count the bytes as the route reads them."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if self._declared_length(scope) > self.limit:
            response = error_response(PayloadTooLarge(f"body over {self.limit} bytes"))
            await response(scope, receive, send)
            return
        received = 0

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.limit:
                    # Raised inside the app, so its exception handlers answer it.
                    raise PayloadTooLarge(f"body over {self.limit} bytes")
            return message

        await self.app(scope, counted, send)

    @staticmethod
    def _declared_length(scope: Scope) -> int:
        for name, value in scope["headers"]:
            if name == b"content-length":
                return int(value) if value.isdigit() else 0
        return 0
