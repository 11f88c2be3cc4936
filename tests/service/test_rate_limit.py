"""Per-key rate limits: 429 with Retry-After, then calls pass again; counted in memory or Redis.

A store that is down or stalls never stalls or fails a call: the calls pass, unlimited.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import time
import uuid
from collections.abc import Iterator

import pytest
import redis
from fastapi.testclient import TestClient
from httpx import Response
from pydantic import SecretStr

from service.app import create_app
from service.auth import rate_limit
from service.cli.local_redis import RedisServer
from service.cli.server import free_port
from service.settings import ServiceSettings
from tests.service.clients import new_key

# A cheap keyed call: the decision of an order nobody sent is a 404.
CALL = "/v1/orders/no-such-order/decision"
LIMITED = {"rate_limit_per_key": "3/second", "rate_limit_failed_keys_per_client": "2/second"}


def call(client: TestClient, key: str) -> Response:
    answer: Response = client.get(CALL, headers={"Authorization": f"Bearer {key}"})
    return answer


def wait_out(answer: Response) -> None:
    time.sleep(int(answer.headers["retry-after"]) + 0.05)


def assert_limited(answer: Response) -> None:
    assert answer.status_code == 429, answer.text
    assert answer.json() == {"error": "rate_limited", "detail": answer.json()["detail"]}
    assert 1 <= int(answer.headers["retry-after"]) <= 1, "a one-second window"
    assert answer.headers["content-security-policy"], "a 429 is an answer like any other"


def limited(settings: ServiceSettings, **extra: object) -> ServiceSettings:
    return settings.model_copy(update={**LIMITED, **extra})


def test_a_key_over_its_limit_waits_then_passes_and_other_keys_pass(
    settings: ServiceSettings,
) -> None:
    busy, other = new_key(settings), new_key(settings)
    with TestClient(create_app(limited(settings))) as client:
        first = call(client, busy)  # the window starts with the key's first call
        assert first.status_code == 404, first.text
        assert [call(client, busy).status_code for _ in range(2)] == [404, 404]
        refused = call(client, busy)
        assert_limited(refused)
        assert call(client, other).status_code == 404, "the limit is per key"
        wait_out(refused)
        assert call(client, busy).status_code == 404, "a new window"


def test_calls_without_a_live_key_are_limited_per_client(settings: ServiceSettings) -> None:
    with TestClient(create_app(limited(settings))) as client:
        assert client.get(CALL).status_code == 401
        assert call(client, "osk_guessed").status_code == 401
        refused = call(client, "osk_guessed")
        assert_limited(refused)
        assert call(client, new_key(settings)).status_code == 404, "a live key still passes"
        wait_out(refused)
        assert call(client, "osk_guessed").status_code == 401


def test_pages_and_open_routes_are_not_limited(settings: ServiceSettings) -> None:
    with TestClient(create_app(limited(settings))) as client:
        assert {client.get("/healthz").status_code for _ in range(10)} == {200}
        assert {client.get("/login").status_code for _ in range(10)} == {200}


@pytest.fixture()
def redis_counted(settings: ServiceSettings, redis_url: str) -> ServiceSettings:
    return limited(settings, rate_limit_storage_url=SecretStr(redis_url))


def test_counts_in_redis_are_shared_by_every_process(
    redis_counted: ServiceSettings, redis_url: str
) -> None:
    key = new_key(redis_counted)
    # Two apps, as two server processes would run them, each with its own Redis client.
    one = TestClient(create_app(redis_counted))
    two = TestClient(create_app(redis_counted))
    with one, two:
        assert [call(c, key).status_code for c in (one, two, one)] == [404, 404, 404]
        refused = call(two, key)
        assert_limited(refused)
        assert redis.Redis.from_url(redis_url).keys(f"{rate_limit.KEY_PREFIX}:*")
        wait_out(refused)
        assert call(one, key).status_code == 404


def test_the_redis_online_store_makes_redis_their_store(
    settings: ServiceSettings, redis_url: str
) -> None:
    on_redis = limited(settings, online_store="redis", redis_url=SecretStr(redis_url))
    key_id = f"key-{uuid.uuid4().hex}"

    async def calls() -> list[int | None]:
        limits = rate_limit.rate_limits(on_redis)
        return [await limits.key_call(key_id) for _ in range(4)]

    assert asyncio.run(calls()) == [None, None, None, 1]
    assert asyncio.run(calls()) == [1, 1, 1, 1], "a new process sees the same count"
    assert redis.Redis.from_url(redis_url).keys(f"{rate_limit.KEY_PREFIX}:*{key_id}*")


def warnings_of(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == rate_limit.__name__]


def test_a_store_that_is_down_lets_calls_pass_and_is_logged_once(
    settings: ServiceSettings, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(rate_limit, "PAUSE_SECONDS", 0.0)  # every call tries the store
    nobody = f"redis://127.0.0.1:{free_port()}/0"
    down = limited(settings, rate_limit_storage_url=SecretStr(nobody))
    key = new_key(settings)
    with TestClient(create_app(down)) as client, caplog.at_level(logging.WARNING):
        assert [call(client, key).status_code for _ in range(8)] == [404] * 8
        assert [call(client, "osk_guessed").status_code for _ in range(4)] == [401] * 4
    assert len(warnings_of(caplog)) == 1 and "rate limits off" in warnings_of(caplog)[0]


@pytest.fixture()
def stalled_store() -> Iterator[str]:
    """A port that accepts connections and never answers a command."""
    with socket.create_server(("127.0.0.1", 0)) as listener:
        yield f"redis://127.0.0.1:{listener.getsockname()[1]}/0"


def test_a_store_that_stalls_costs_a_call_its_timeout_only(
    settings: ServiceSettings, stalled_store: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(rate_limit, "PAUSE_SECONDS", 0.0)  # every call tries the store
    stalled = limited(settings, rate_limit_storage_url=SecretStr(stalled_store))
    key = new_key(settings)
    with TestClient(create_app(stalled)) as client:
        for _ in range(6):
            started = time.monotonic()
            assert call(client, key).status_code == 404
            assert time.monotonic() - started < 0.5, "the 20 ms timeout, not redis-py's default"


def test_limits_come_back_with_their_store(
    settings: ServiceSettings,
    own_redis: RedisServer,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setattr(rate_limit, "PAUSE_SECONDS", 0.2)
    counted = limited(settings, rate_limit_storage_url=SecretStr(own_redis.url))
    key = new_key(settings)
    with TestClient(create_app(counted)) as client, caplog.at_level(logging.WARNING):
        own_redis.stop()
        assert [call(client, key).status_code for _ in range(5)] == [404] * 5
        own_redis.start()
        time.sleep(0.3)
        answers = [call(client, key).status_code for _ in range(4)]
    assert answers == [404, 404, 404, 429]
    logged = warnings_of(caplog)
    assert len(logged) == 2 and "off" in logged[0] and "on again" in logged[1]
