"""A lean HTTP/1.1 keep-alive client on asyncio streams, for the load generator.

The load generator shares this machine's two cores with the server it
measures, and a general-purpose client (httpx costs about 2 ms of client CPU
per request here) would both slow the server down and add its own queueing to
every measured latency. This one only posts bodies and reads answers that
carry a `content-length`, which is all the benchmark needs.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import cycle
from typing import Protocol


class ProtocolError(RuntimeError):
    """Raised when the server's answer is not a plain HTTP/1.1 response with a length."""


class ServerClosed(ProtocolError):
    """Raised when the server closed the connection before answering."""


@dataclass
class Answer:
    """A response's status, body and `Server-Timing` header (None when it has none)."""

    status: int
    body: bytes
    server_timing: str | None = None


class Poster(Protocol):
    """Anything that posts a body to a path and returns the answer."""

    async def post(self, path: str, body: bytes) -> Answer:
        """Post `body` as JSON to `path` and return the answer."""
        ...


class _Connection:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    async def post(self, head: bytes, body: bytes) -> Answer:
        try:
            return await self._exchange(head, body)
        except BaseException:
            self.close()
            raise

    async def _exchange(self, head: bytes, body: bytes) -> Answer:
        self.writer.write(head + body)
        status_line = await self.reader.readline()
        if not status_line:
            raise ServerClosed("the server closed the connection")
        parts = status_line.split(b" ", 2)
        if len(parts) < 2 or not parts[0].startswith(b"HTTP/1."):
            raise ProtocolError(f"bad status line {status_line!r}")
        length = None
        timings: list[str] = []
        while (line := await self.reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                length = int(value.strip())
            elif name == b"server-timing":
                timings.append(value.strip().decode("latin-1"))
        if length is None:
            raise ProtocolError("response without content-length")
        body = await self.reader.readexactly(length)
        # Repeated fields are one list (RFC 9110 5.3), as if joined by commas.
        return Answer(int(parts[1]), body, ", ".join(timings) if timings else None)

    def close(self) -> None:
        self.writer.close()


class Client:
    """Posts JSON bodies to one server over at most `connections` kept-alive connections."""

    def __init__(self, host: str, port: int, connections: int, api_key: str) -> None:
        self.host = host
        self.port = port
        self._auth = f"authorization: Bearer {api_key}\r\n"
        self._idle: list[_Connection] = []
        self._slots = asyncio.Semaphore(connections)

    async def post(self, path: str, body: bytes) -> Answer:
        """Post `body` as JSON to `path` and return the answer."""
        head = (
            f"POST {path} HTTP/1.1\r\nhost: {self.host}:{self.port}\r\n{self._auth}"
            f"content-type: application/json\r\ncontent-length: {len(body)}\r\n\r\n"
        ).encode()
        async with self._slots:
            while self._idle:
                connection = self._idle.pop()
                try:
                    return self._kept(connection, await connection.post(head, body))
                except ServerClosed:
                    # The server closed it while idle (keep-alive timeout): the request
                    # never arrived, so it goes again, on another connection.
                    continue
            connection = await self._connect()
            return self._kept(connection, await connection.post(head, body))

    def _kept(self, connection: _Connection, answer: Answer) -> Answer:
        self._idle.append(connection)
        return answer

    async def _connect(self) -> _Connection:
        reader, writer = await asyncio.open_connection(self.host, self.port)
        return _Connection(reader, writer)

    def close(self) -> None:
        """Close every idle connection."""
        while self._idle:
            self._idle.pop().close()


class RoundRobin:
    """Posts to several servers in turn, the way a load balancer without affinity would."""

    def __init__(self, clients: Sequence[Client]) -> None:
        self.clients = list(clients)
        self._next = cycle(self.clients)

    async def post(self, path: str, body: bytes) -> Answer:
        """Post `body` to the next server in turn and return the answer."""
        return await next(self._next).post(path, body)

    def close(self) -> None:
        """Close every idle connection of every server."""
        for client in self.clients:
            client.close()
