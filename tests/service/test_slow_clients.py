"""Slow clients cannot hold the server: a request must arrive whole within the read timeout.

Raw sockets against real uvicorn servers on 127.0.0.1: the protocol of
`service.http_server` under a small app, and `ordershield serve`'s own server
process.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack

import pytest
import uvicorn
from starlette.types import Receive, Scope, Send

from service import http_server
from service.cli.server import free_port, running_server
from service.settings import ServiceSettings

READ_TIMEOUT = 0.5
MAX_HEADER_BYTES = 8192
GET = b"GET / HTTP/1.1\r\nHost: test\r\n\r\n"


async def small_app(scope: Scope, receive: Receive, send: Send) -> None:
    """Read the whole body, take a second for /slow, answer with the body's length."""
    if scope["type"] != "http":
        return
    size, more = 0, True
    while more:
        message = await receive()
        size += len(message.get("body", b""))
        more = message.get("more_body", False)
    if scope["path"] == "/slow":
        await asyncio.sleep(1.0)
    body = str(size).encode()
    headers = [(b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})


@pytest.fixture
def port() -> Iterator[int]:
    """Serve the small app with the protocol of `service.http_server`, in a thread."""
    limits = {"read_timeout": READ_TIMEOUT, "max_header_bytes": MAX_HEADER_BYTES}
    protocol = type("Protocol", (http_server.HttpToolsWithDeadline,), limits)
    config = uvicorn.Config(
        small_app,
        host="127.0.0.1",
        port=free_port(),
        http=protocol,
        lifespan="off",
        log_level="warning",
        timeout_keep_alive=5,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.02)
    assert server.started
    yield config.port
    server.should_exit = True
    thread.join(timeout=10)


def connect(port: int) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=5)
    sock.settimeout(5)
    return sock


def closed_after(sock: socket.socket, started: float) -> tuple[float, bytes]:
    """Read until the server closes the connection; return when, and what it sent."""
    got = b""
    try:
        while chunk := sock.recv(65536):
            got += chunk
    except ConnectionResetError:
        pass
    return time.monotonic() - started, got


def receive(sock: socket.socket) -> bytes:
    chunk = sock.recv(65536)
    assert chunk, "the server closed the connection"
    return chunk


def answer(sock: socket.socket) -> bytes:
    """Read one small response (headers and a short body)."""
    got = b""
    while b"\r\n\r\n" not in got:
        got += receive(sock)
    head, _, body = got.partition(b"\r\n\r\n")
    length = int(
        next(h for h in head.split(b"\r\n") if h.lower().startswith(b"content-length"))[15:]
    )
    while len(body) < length:
        body += receive(sock)
    return head.split(b"\r\n")[0] + b" " + body


@pytest.mark.parametrize(
    "sent",
    [
        b"",  # connects and says nothing
        b"GET / HTTP/1.1\r\nHost: test\r\n",  # part of the headers
        b"POST / HTTP/1.1\r\nHost: test\r\nContent-Length: 100\r\n\r\n0123456789",  # part of a body
    ],
)
def test_a_stalled_request_is_closed_at_the_read_timeout(port: int, sent: bytes) -> None:
    with connect(port) as sock:
        started = time.monotonic()
        sock.sendall(sent)
        after, got = closed_after(sock, started)
    assert got == b"" and READ_TIMEOUT - 0.1 < after < READ_TIMEOUT + 1.0


def test_a_trickle_of_bytes_does_not_keep_a_request_open(port: int) -> None:
    """Slowloris: a byte every 50 ms never finishes the headers, and never resets the clock."""
    with connect(port) as sock:
        started = time.monotonic()
        sock.sendall(b"GET / HTTP/1.1\r\n")
        try:
            while time.monotonic() - started < READ_TIMEOUT + 2.0:
                sock.sendall(b"X")
                time.sleep(0.05)
        except OSError:  # the server closed the connection
            pass
        after, _ = closed_after(sock, started)
    assert after < READ_TIMEOUT + 1.0


def test_requests_that_arrive_in_time_are_answered_however_long_the_app_takes(port: int) -> None:
    with connect(port) as sock:
        sock.sendall(b"POST /slow HTTP/1.1\r\nHost: test\r\nContent-Length: 5\r\n\r\n")
        time.sleep(READ_TIMEOUT / 2)
        sock.sendall(b"12345")
        assert answer(sock) == b"HTTP/1.1 200 OK 5", "the app's second is not a read"
        time.sleep(READ_TIMEOUT + 0.3)  # idle on keep-alive: its own, longer timeout
        sock.sendall(GET)
        assert answer(sock) == b"HTTP/1.1 200 OK 0"
        sock.sendall(GET[:10])  # the next request stalls after its first bytes
        started = time.monotonic()
        after, got = closed_after(sock, started)
    assert got == b"" and after < READ_TIMEOUT + 1.0


@pytest.mark.parametrize("whole", [False, True], ids=["in pieces", "in one read"])
def test_headers_over_the_limit_are_refused(port: int, whole: bool) -> None:
    head = b"GET / HTTP/1.1\r\nHost: test\r\nX-Big: " + b"a" * MAX_HEADER_BYTES + b"\r\n"
    with connect(port) as sock:
        # Whole: the request ends too, so the parser sees every header in one read.
        sock.sendall(head + b"\r\n" if whole else head)
        _, got = closed_after(sock, time.monotonic())
    assert got.startswith(b"HTTP/1.1 400 ")


def test_the_served_app_closes_stalled_connections_and_keeps_serving(
    settings: ServiceSettings,
) -> None:
    """The server process `ordershield serve` runs, with a 1 s read timeout."""
    quick = settings.model_copy(update={"http_read_timeout_seconds": 1.0})
    with running_server(quick) as server, ExitStack() as sockets:
        port = int(server.url.rsplit(":", 1)[1])
        stalled = [sockets.enter_context(connect(port)) for _ in range(3)]
        started = time.monotonic()
        stalled[1].sendall(b"GET /healthz HTTP/1.1\r\nHost: test\r\n")
        stalled[2].sendall(
            b"POST /v1/orders/score HTTP/1.1\r\nHost: t\r\nContent-Length: 99\r\n\r\n{"
        )
        with connect(port) as healthy:
            healthy.sendall(b"GET /healthz HTTP/1.1\r\nHost: test\r\n\r\n")
            assert answer(healthy).startswith(b"HTTP/1.1 200 OK")
        for sock in stalled:
            after, got = closed_after(sock, started)
            assert got == b"" and 0.8 < after < 3.0
