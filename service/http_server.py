"""The uvicorn server of `ordershield serve`, with limits that keep slow clients from holding it.

uvicorn (0.55) times out only an idle keep-alive connection after a response.
A connection that sends nothing, or part of a request's headers or body, and
then stalls stays open for good: enough of them fill `limit_concurrency` (or
the process's file descriptors) and everyone else gets 503s. So the protocol
here gives each request `http_read_timeout_seconds` from its first byte (from
the connection's opening, for the first request) to arrive whole, headers and
body; past that the connection is closed. It is uvicorn's httptools protocol
(what uvicorn[standard] runs), which has no limit on header size either (h11's
is `h11_max_incomplete_event_size`): headers over `http_max_header_bytes` are
answered 400.

Run as `python -m service.http_server --host H --port P`, with the settings
from the environment: how `ordershield serve` and its tests start a server.
"""

from __future__ import annotations

import argparse
import asyncio
from typing import Any

import uvicorn
from starlette.types import ASGIApp
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from service.app import create_app
from service.settings import ServiceSettings


class ReadDeadline:
    """A per-request deadline for reading the request, mixed into a uvicorn protocol."""

    read_timeout: float
    transport: asyncio.Transport
    cycle: Any  # the protocol's current request-response cycle, None before the first request
    timeout_keep_alive_task: asyncio.TimerHandle | None
    loop: asyncio.AbstractEventLoop
    _deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)  # type: ignore[misc]
        self._update()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)  # type: ignore[misc]
        self._update()

    def on_response_complete(self) -> None:
        super().on_response_complete()  # type: ignore[misc]
        self._update()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)  # type: ignore[misc]

    def handle_websocket_upgrade(self, *args: Any) -> None:
        self._disarm()  # the connection is the websocket protocol's from here on
        super().handle_websocket_upgrade(*args)  # type: ignore[misc]

    def _update(self) -> None:
        """Run the deadline while a request is being read; stop it once it is whole."""
        cycle = self.cycle
        if cycle is not None and not cycle.response_complete and not cycle.more_body:
            self._disarm()  # the whole request is in: the app has it
        elif cycle is not None and cycle.response_complete and self.keeping_alive:
            self._disarm()  # idle between requests: uvicorn's keep-alive timeout runs
        elif self._deadline is None and not self.transport.is_closing():
            self._deadline = self.loop.call_later(self.read_timeout, self._expired)

    @property
    def keeping_alive(self) -> bool:
        """Return whether uvicorn's keep-alive timeout runs (an idle connection after a reply)."""
        return self.timeout_keep_alive_task is not None

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _expired(self) -> None:
        self._deadline = None
        if not self.transport.is_closing():
            self.transport.close()


class HttpToolsWithDeadline(ReadDeadline, HttpToolsProtocol):
    """uvicorn's httptools protocol with the read deadline and a header size limit."""

    max_header_bytes: int
    _header_bytes = 0  # received since the current request's headers began
    _parsed_bytes = 0  # of the current request's line and headers, as parsed
    _in_body = False

    def data_received(self, data: bytes) -> None:
        if not self._in_body:
            self._header_bytes += len(data)
        super().data_received(data)
        # httptools hands a header over only once the next one starts: count the raw bytes.
        if self._header_bytes > self.max_header_bytes and not self.transport.is_closing():
            self.send_400_response("Request headers too large.")

    def on_url(self, url: bytes) -> None:
        self._parsed(len(url))
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._parsed(len(name) + len(value))
        super().on_header(name, value)

    def _parsed(self, size: int) -> None:
        # Headers that arrive whole in one read are parsed before `data_received` could
        # count them: count what the parser hands over too, and refuse inside the parse
        # (the parser's error is uvicorn's 400).
        self._parsed_bytes += size
        if self._parsed_bytes > self.max_header_bytes:
            raise ValueError("request headers too large")

    def on_headers_complete(self) -> None:
        self._header_bytes, self._parsed_bytes, self._in_body = 0, 0, True
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        self._in_body = False
        super().on_message_complete()


def protocol(settings: ServiceSettings) -> type[asyncio.Protocol]:
    """Return the HTTP protocol class of these settings (httptools, as uvicorn[standard] has)."""
    limits = {
        "read_timeout": settings.http_read_timeout_seconds,
        "max_header_bytes": settings.http_max_header_bytes,
    }
    return type("HttpProtocol", (HttpToolsWithDeadline,), limits)


def config(
    settings: ServiceSettings, host: str, port: int, log_level: str, app: ASGIApp | None = None
) -> uvicorn.Config:
    """Return the uvicorn configuration of a server of this app (or of `app`, served alike)."""
    return uvicorn.Config(
        app or create_app(settings),
        host=host,
        port=port,
        log_level=log_level,
        http=protocol(settings),
        timeout_keep_alive=settings.http_keep_alive_seconds,
        limit_concurrency=settings.http_max_concurrency,
    )


def serve(settings: ServiceSettings, host: str, port: int, log_level: str = "info") -> None:
    """Serve the app until interrupted."""
    uvicorn.Server(config(settings, host, port, log_level)).run()


def main(argv: list[str] | None = None) -> None:
    """Serve the app of the environment's settings on the given address."""
    parser = argparse.ArgumentParser(prog="python -m service.http_server")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--log-level", default="info")
    args = parser.parse_args(argv)
    serve(ServiceSettings(), args.host, args.port, args.log_level)


if __name__ == "__main__":
    main()
