"""Rate limits per API key, and on failed key attempts per client address.

Counted by the `limits` library in fixed windows that start at a key's first
call: in Redis when the service runs with the Redis online store (or
`rate_limit_storage_url` names a store), so every server process shares one
count, else in the process's memory. A window lets through at most its amount,
so two back-to-back windows can pass twice that in a short stretch.

A limit never stalls or fails the call it counts: each count has a short
deadline, and when the store fails or is slow the call passes unlimited (fail
open); after `FAILURES_TO_PAUSE` failures in a row the outage is logged once and
the store is left alone for `PAUSE_SECONDS` before the next try. A call the
store counted over its limit is refused even if asking how long to wait fails.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from urllib.parse import urlsplit

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from limits import RateLimitItem, RateLimitItemPerSecond, parse
from limits.aio.strategies import FixedWindowRateLimiter
from limits.storage import storage_from_string

from service.errors import DomainError, error_response
from service.settings import ServiceSettings

log = logging.getLogger(__name__)
PAUSE_SECONDS = 5.0
# Counts that fail in a row before the limits are switched off for `PAUSE_SECONDS`.
FAILURES_TO_PAUSE = 3
WARM_UP_SECONDS = 2.0
KEY_PREFIX = "ordershield-limits"


class RateLimited(DomainError):
    status, code = 429, "rate_limited"

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"too many requests; retry in {retry_after} s")
        self.retry_after = retry_after


class RateLimits:
    """Counts calls per key and failed attempts per client; says how long to wait when over."""

    def __init__(
        self,
        storage_url: str,
        per_key: RateLimitItem,
        failures_per_client: RateLimitItem,
        timeout_seconds: float,
    ) -> None:
        scheme = urlsplit(storage_url).scheme
        options: dict[str, float | str | bool] = {"key_prefix": KEY_PREFIX}
        if scheme.startswith(("redis", "valkey")):
            # redis-py's asyncio client, so the count adds no dependency and no thread hop.
            options |= {"implementation": "redispy", "socket_timeout": timeout_seconds}
            options |= {"socket_connect_timeout": timeout_seconds}
        storage = storage_from_string(f"async+{storage_url}", wrap_exceptions=True, **options)
        self._limiter = FixedWindowRateLimiter(storage)
        self.per_key = per_key
        self.failures_per_client = failures_per_client
        self.timeout = timeout_seconds
        self._paused_until = 0.0
        self._down = False
        self._failures = 0

    async def key_call(self, key_id: str) -> int | None:
        """Count a call of a key; return the seconds to wait if the key is over its limit."""
        return await self._hit(self.per_key, "key", key_id)

    async def failed_attempt(self, client: str) -> int | None:
        """Count a call with a missing or unknown key; return the seconds to wait if over."""
        return await self._hit(self.failures_per_client, "failed-key", client)

    async def warm_up(self) -> None:
        """Connect to the store and load its counting script, before the first call's count."""
        try:
            async with asyncio.timeout(WARM_UP_SECONDS):
                await self._limiter.hit(RateLimitItemPerSecond(1), "warm-up")
        except Exception as error:  # the service starts all the same, its calls unlimited
            self._failed(error)

    async def _hit(self, item: RateLimitItem, *identifiers: str) -> int | None:
        if time.monotonic() < self._paused_until:
            return None
        try:
            async with asyncio.timeout(self.timeout):
                allowed = await self._limiter.hit(item, *identifiers)
        except Exception as error:  # the counter store's failure must never fail the call
            self._failed(error)
            return None
        self._failures = 0
        if self._down:
            self._down = False
            log.warning("rate limits on again: their store answers")
        if allowed:
            return None
        try:
            async with asyncio.timeout(self.timeout):
                reset, _ = await self._limiter.get_window_stats(item, *identifiers)
        except Exception:  # over the limit all the same: only how long to wait is unknown
            return 1
        return max(1, math.ceil(reset - time.time()))

    def _failed(self, error: Exception) -> None:
        # One slow count (a busy event loop, a blip) is not an outage: only failures in
        # a row switch the limits off, so load alone cannot turn them off.
        self._failures += 1
        if self._failures < FAILURES_TO_PAUSE:
            return
        self._paused_until = time.monotonic() + PAUSE_SECONDS
        if not self._down:
            self._down = True
            cause = getattr(error, "storage_error", None) or error
            log.warning("rate limits off: their store fails (%s); calls pass unlimited", cause)


def rate_limits(settings: ServiceSettings) -> RateLimits:
    """Build the limits of these settings; a limit that does not parse stops the start here."""
    url = settings.rate_limit_storage_url
    if url is not None:
        storage = url.get_secret_value()
    elif settings.online_store == "redis":
        storage = settings.redis_url.get_secret_value()
    else:
        storage = "memory://"
    return RateLimits(
        storage,
        parse(settings.rate_limit_per_key),
        parse(settings.rate_limit_failed_keys_per_client),
        settings.rate_limit_timeout_ms / 1000,
    )


async def _rate_limited(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RateLimited)
    response = error_response(exc)
    response.headers["Retry-After"] = str(exc.retry_after)
    return response


def install(app: FastAPI) -> None:
    """Answer an exceeded limit with 429, `Retry-After` and the one error shape."""
    app.add_exception_handler(RateLimited, _rate_limited)
