"""A redis-server of our own on a free loopback port: for the tests and the soak benchmark.

It keeps nothing on disk unless `durable`, where every write is fsynced to an
append-only file before its reply, so a killed server comes back, on the same
port, with everything it acknowledged.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path

import redis

from service.cli.server import free_port

START_TIMEOUT_S = 60.0


class RedisServer:
    """A redis-server process, which its owner may kill, pause and start again."""

    def __init__(self, workdir: Path, durable: bool = False) -> None:
        self.port = free_port()
        self.workdir = workdir
        self.durable = durable
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """Return the server's URL."""
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        """Start the server (from its append-only file, if durable); wait until it answers."""
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError(
                "redis-server is not installed (Debian: apt-get install redis-server)"
            )
        options = ["--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.workdir)]
        if self.durable:
            options += ["--save", "", "--appendonly", "yes", "--appendfsync", "always"]
        else:
            options += ["--save", "", "--appendonly", "no"]
        with open(self.workdir / "redis.log", "ab") as log:
            self.process = subprocess.Popen(
                [binary, *options], stdout=log, stderr=subprocess.STDOUT
            )
        client = redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=1.0)
        deadline = time.monotonic() + START_TIMEOUT_S
        try:
            while time.monotonic() < deadline:
                if self.process.poll() is not None:
                    raise RuntimeError(f"redis-server exited with status {self.process.returncode}")
                try:
                    client.ping()  # refused while starting, LOADING while it reads its file
                    return
                except redis.RedisError:
                    time.sleep(0.05)
        finally:
            client.close()
        self.stop()
        raise RuntimeError(f"redis-server did not answer within {START_TIMEOUT_S:.0f} s")

    def kill(self) -> None:
        """Kill the server with SIGKILL, as a crash would."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def stop(self) -> None:
        """Stop the server if it runs."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.kill()
