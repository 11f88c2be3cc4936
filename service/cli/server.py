"""A local OrderShield server in a child process: for the demo, the tests and the benchmark."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from pydantic import SecretStr

from features.settings import PREFIX
from service.settings import ServiceSettings

READY_TIMEOUT_S = 180.0


class ServerError(RuntimeError):
    """Raised when the server exits during startup or does not become ready."""


@dataclass(frozen=True)
class Server:
    """A running server: its URL and its process."""

    url: str
    process: subprocess.Popen[bytes]


def free_port() -> int:
    """Return a loopback port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def server_env(settings: ServiceSettings) -> dict[str, str]:
    """Return the environment that gives the server exactly these settings."""
    env = dict(os.environ)
    for name in type(settings).model_fields:
        value = getattr(settings, name)
        if isinstance(value, SecretStr):
            value = value.get_secret_value()
        if value is not None:
            env[f"{PREFIX}{name.upper()}"] = str(value)
    return env


@contextmanager
def running_server(settings: ServiceSettings, port: int | None = None) -> Iterator[Server]:
    """Start one uvicorn worker for these settings; yield it once /readyz answers 200."""
    port = port or free_port()
    # The server `ordershield serve` runs, started from the service package: the server
    # process loads the service and nothing of the command line or of training.
    command = [sys.executable, "-m", "service.http_server"]
    options = ["--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"]
    with started([*command, *options], port, server_env(settings)) as server:
        yield server


@contextmanager
def started(command: list[str], port: int, env: dict[str, str] | None = None) -> Iterator[Server]:
    """Run a server command listening on `port`; yield it once /readyz answers 200, then stop it."""
    process = subprocess.Popen(command, env=env)
    server = Server(f"http://127.0.0.1:{port}", process)
    try:
        _wait_ready(server)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _wait_ready(server: Server) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise ServerError(
                f"the server exited during startup with status {server.process.returncode}"
            )
        try:
            with urllib.request.urlopen(f"{server.url}/readyz", timeout=2) as answer:
                if answer.status == 200:
                    return
        except OSError:  # refused while starting, or 503 (HTTPError) until ready
            pass
        time.sleep(0.2)
    raise ServerError(f"the server was not ready within {READY_TIMEOUT_S:.0f} s")
