"""The hook never stalls: Redis killed or paused under load, answered within the deadline, degraded.

A real server process scores a steady open-loop stream of orders while the
Redis it reads features from is killed (SIGKILL) or paused (SIGSTOP), as in an
outage or a stuck host. Every answer must come within the decision deadline
plus a margin for the HTTP hop and this shared two-core machine, say which
part degraded and which fail policy decided, and scoring must recover by
itself once Redis is back.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import pytest

from features.store import materialize
from service.cli.local_redis import RedisServer
from service.cli.server import Server, running_server
from service.settings import ServiceSettings
from tests.service.clients import new_key
from tests.service.conftest import prepared_settings
from training.sources.payloads import order_payload

DEADLINE_MS = 50.0
# The HTTP hop, the client's own threads and the other processes on two cores.
MARGIN_MS = 150.0
RATE = 40.0


@dataclass(frozen=True)
class Answer:
    """One order's answer as the client saw it: when it was due, how long it took, what said."""

    due: float
    seconds: float
    status: int
    body: dict[str, Any]


@pytest.fixture()
def served(
    own_redis: RedisServer, tmp_path: Path, stream: pd.DataFrame
) -> Iterator[tuple[Server, str, ServiceSettings]]:
    settings = prepared_settings(tmp_path / "data", stream.iloc[:400], "redis", own_redis.url)
    settings = settings.model_copy(
        update={
            "decision_deadline_ms": DEADLINE_MS,
            "fail_policy": "review",
            "health_probe_seconds": 0.2,
            "online_store_breaker_reset_seconds": 0.3,
            # Killing a Redis that keeps nothing on disk also empties it: that is another
            # test (`test_an_emptied_store_is_noticed_and_rebuilt_exactly`).
            "rebuild_features_automatically": False,
        }
    )
    materialize(settings)
    token = new_key(settings)
    with running_server(settings) as server:
        yield server, token, settings


def open_loop(
    server: Server, token: str, rows: list[dict[str, Any]], rate: float, during: Callable[[], None]
) -> list[Answer]:
    """Send `rows` at a steady rate from four threads while `during` runs; return the answers.

    The load starts 0.2 s after `during` does, so an outage `during` starts
    at 1.5 s covers the answers due from 1.3 s on.
    """
    answers: list[Answer] = []
    start = time.monotonic() + 0.2
    lock = threading.Lock()

    def send(offset: int) -> None:
        headers = {"Authorization": f"Bearer {token}"}
        with httpx.Client(base_url=server.url, headers=headers, timeout=10.0) as client:
            for index in range(offset, len(rows), 4):
                due = start + index / rate
                time.sleep(max(0.0, due - time.monotonic()))
                response = client.post("/v1/orders/score", json=rows[index])
                seconds = time.monotonic() - due
                with lock:
                    answers.append(
                        Answer(due - start, seconds, response.status_code, response.json())
                    )

    senders = [threading.Thread(target=send, args=(i,)) for i in range(4)]
    for sender in senders:
        sender.start()
    during()
    for sender in senders:
        sender.join()
    return sorted(answers, key=lambda a: a.due)


def fresh_rows(stream: pd.DataFrame, first: int, count: int, tag: str) -> list[dict[str, Any]]:
    return [
        dict(order_payload(stream.iloc[first + i]), order_id=f"{tag}-{i}") for i in range(count)
    ]


def assert_within_deadline(answers: list[Answer]) -> None:
    assert answers, "no order was sent"
    slowest = max(answers, key=lambda a: a.seconds)
    assert slowest.seconds * 1000 <= DEADLINE_MS + MARGIN_MS, (
        f"an answer took {slowest.seconds * 1000:.0f} ms at t={slowest.due:.2f} s"
    )
    assert {a.status for a in answers} == {200}, [a.body for a in answers if a.status != 200][:3]


def degraded_in(answers: list[Answer], start: float, end: float) -> list[Answer]:
    return [a for a in answers if start <= a.due < end]


def test_redis_killed_under_load_degrades_within_the_deadline_and_recovers(
    served: tuple[Server, str, ServiceSettings], own_redis: RedisServer, stream: pd.DataFrame
) -> None:
    server, token, _ = served
    rows = fresh_rows(stream, 400, int(RATE * 6), "killed")

    def outage() -> None:
        time.sleep(1.5)
        assert own_redis.process is not None
        own_redis.process.kill()
        own_redis.process.wait()
        time.sleep(2.5)
        own_redis.start()

    answers = open_loop(server, token, rows, RATE, outage)
    assert_within_deadline(answers)
    during = degraded_in(answers, 1.6, 3.6)
    assert during and all(a.body["degraded"] for a in during)
    assert {tuple(a.body["degraded_parts"]) for a in during} == {("online_store",)}
    # The review policy holds every degraded order with its stock frozen.
    assert all(a.body["fail_policy"] == "review" and a.body["action"] == "review" for a in during)
    assert all(a.body["stock"]["freeze"] for a in during)
    before = degraded_in(answers, 0.0, 1.2)
    assert before and not any(a.body["degraded"] for a in before)
    # Back without a restart: the breaker's probe finds Redis again. It came back empty
    # (it keeps nothing on disk), so what it answers is "state lost", not "store down".
    after = degraded_in(answers, 5.0, 6.0)
    assert after and all(a.body["degraded_parts"] == ["online_state_lost"] for a in after)


def test_redis_paused_under_load_degrades_within_the_deadline_and_recovers(
    served: tuple[Server, str, ServiceSettings], own_redis: RedisServer, stream: pd.DataFrame
) -> None:
    server, token, _ = served
    rows = fresh_rows(stream, 700, int(RATE * 6), "paused")
    assert own_redis.process is not None
    pid = own_redis.process.pid

    def pause() -> None:
        time.sleep(1.5)
        os.kill(pid, signal.SIGSTOP)
        time.sleep(2.5)
        os.kill(pid, signal.SIGCONT)

    answers = open_loop(server, token, rows, RATE, pause)
    assert_within_deadline(answers)
    during = degraded_in(answers, 1.6, 3.6)
    assert during and all(a.body["degraded_parts"] == ["online_store"] for a in during)
    # A paused Redis keeps its memory: once it answers again, nothing is degraded.
    after = degraded_in(answers, 5.0, 6.0)
    assert after and not any(a.body["degraded"] for a in after)
    ready = httpx.get(f"{server.url}/readyz", timeout=1.0)
    assert ready.status_code == 200 and ready.json()["status"] == "ready", ready.text


def test_readiness_answers_within_100_ms_while_redis_is_paused(
    served: tuple[Server, str, ServiceSettings], own_redis: RedisServer
) -> None:
    server, _, settings = served
    assert own_redis.process is not None
    os.kill(own_redis.process.pid, signal.SIGSTOP)
    try:
        time.sleep(0.5)
        statuses = []
        for _ in range(5):
            started = time.monotonic()
            ready = httpx.get(f"{server.url}/readyz", timeout=2.0)
            assert time.monotonic() - started < 0.1 + 0.05, "readyz took longer than 100 ms"
            statuses.append((ready.status_code, ready.json()["status"]))
        assert statuses[-1] == (200, "degraded"), statuses
        assert settings.ready_when_degraded
    finally:
        os.kill(own_redis.process.pid, signal.SIGCONT)
