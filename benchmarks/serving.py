"""The servers a benchmark runs: started, keyed, and their database made ready."""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

from http_client import Client, RoundRobin
from sqlalchemy import create_engine, text
from sqlalchemy.engine import URL, make_url

from service.auth.keys import create_key
from service.cli.server import Server, running_server
from service.persistence import make_engine
from service.settings import ServiceSettings


def stop_message(status: int | None) -> str:
    """Describe how the server ended (uvicorn re-raises SIGTERM after a graceful shutdown)."""
    if status in (0, -signal.SIGTERM):
        return f"server shut down cleanly on SIGTERM (exit status {status})"
    return f"server did not shut down cleanly (exit status {status})"


def scoring_key(settings: ServiceSettings) -> str:
    """Create an API key with the score scope in the server's database."""
    engine = make_engine(settings.db_url)
    try:
        return create_key(engine, "latency benchmark", ["score"])[1]
    finally:
        engine.dispose()


@contextmanager
def stderr_to(path: Path) -> Iterator[None]:
    """Point this process's stderr (and so that of the children it starts) at a file."""
    sys.stderr.flush()
    saved = os.dup(2)
    with open(path, "ab") as log:
        os.dup2(log.fileno(), 2)
    try:
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


@contextmanager
def running_servers(settings: ServiceSettings, count: int, log: Path) -> Iterator[list[Server]]:
    """Start `count` server processes of these settings, one after the other; stop them all.

    One at a time, so only the first migrates a new database and each warms up
    without the other's start-up beside it. Their stderr goes to `log`.
    """
    with ExitStack() as stack:
        servers = []
        for _ in range(count):
            with stderr_to(log):
                servers.append(stack.enter_context(running_server(settings)))
        yield servers


def client_of(servers: list[Server], api_key: str, connections: int) -> Client | RoundRobin:
    """Return a client of one server, or one that takes the servers in turn."""
    clients = []
    for server in servers:
        host, port = server.url.removeprefix("http://").rsplit(":", 1)
        clients.append(Client(host, int(port), connections, api_key))
    return clients[0] if len(clients) == 1 else RoundRobin(clients)


def shown_url(url: str) -> str:
    """Return a database URL without its password."""
    return make_url(url).render_as_string(hide_password=True)


def ensure_database(url: str) -> None:
    """Create a PostgreSQL URL's database if it is missing (nothing to do for SQLite)."""
    parsed = make_url(url)
    if parsed.get_backend_name() not in ("postgresql", "postgres") or not parsed.database:
        return
    engine = create_engine(_maintenance(parsed), isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as connection:
            exists = connection.execute(
                text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": parsed.database}
            ).first()
            if exists is None:
                quoted = connection.dialect.identifier_preparer.quote(parsed.database)
                connection.execute(text(f"CREATE DATABASE {quoted}"))
    finally:
        engine.dispose()


def _maintenance(url: URL) -> URL:
    # CREATE DATABASE runs from another database of the same server, with the psycopg driver.
    bare = url.drivername in ("postgresql", "postgres")
    return url.set(drivername="postgresql+psycopg" if bare else url.drivername, database="postgres")
