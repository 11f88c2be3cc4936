"""The Redis online store: a hash per entity and view.

The hash `<project>:<view>:<entity key>` holds a field per feature (its
serialized `ValueProto`) and the row's event time in microseconds under `:ts`,
a name no feature can have (`:` separates view and feature in Feast's feature
references). One read of any number of cells is one server-side script
(`READ_SCRIPT`), one write of any number of rows another (`WRITE_SCRIPT`):
a reader sees all of a write or none of it, and every cell of a read as of
one moment; a conditional write compares and writes with no other command in
between. One command per read, not one per cell in a pipeline, also spares
the client most of its work: packing and parsing each command cost more
than Redis's own.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import redis
from feast.repo_config import FeastConfigBaseModel, RepoConfig
from pydantic import StrictStr
from redis.backoff import NoBackoff
from redis.retry import Retry

from features.online_stores.rows import (
    Cell,
    Conflict,
    Expected,
    Row,
    RowsOnlineStore,
    StoredRow,
)

TIME_FIELD = ":ts"
# One read: KEYS are the cells' hashes, ARGV their fields; a missing cell reads as nil.
READ_SCRIPT = """
local found = {}
for i = 1, #KEYS do
  found[i] = redis.call('HGET', KEYS[i], ARGV[i])
end
return found
"""
# One write: check the expected cells (by SHA-1), then write every row and count.
# KEYS: the expected cells' hashes, the rows' hashes, then the count's hash (if any).
# ARGV: n, then per expected cell its field and digest ('' for absent); rows, then per
# row its field count, TTL and field/value pairs; then the count's field (if any).
# Returns -1 on a changed cell, else the new count (0 without one).
WRITE_SCRIPT = """
local n = tonumber(ARGV[1])
local a = 2
for i = 1, n do
  local v = redis.call('HGET', KEYS[i], ARGV[a])
  local want = ARGV[a + 1]
  if want == '' then
    if v then return -1 end
  elseif (not v) or redis.sha1hex(v) ~= want then
    return -1
  end
  a = a + 2
end
local k = n + 1
local rows = tonumber(ARGV[a])
a = a + 1
for r = 1, rows do
  local fields = tonumber(ARGV[a])
  local ttl = tonumber(ARGV[a + 1])
  a = a + 2
  -- A few hundred pairs per HSET: unpack has a limit of its own.
  local last = a + 2 * fields - 1
  while a <= last do
    local stop = math.min(a + 511, last)
    redis.call('HSET', KEYS[k], unpack(ARGV, a, stop))
    a = stop + 1
  end
  if ttl > 0 then redis.call('EXPIRE', KEYS[k], ttl) end
  k = k + 1
end
if KEYS[k] then return redis.call('HINCRBY', KEYS[k], ARGV[a], 1) end
return 0
"""
# Keys per SCAN step and per UNLINK when a view's rows are dropped.
DELETE_BATCH = 1_000


class OrderShieldRedisOnlineStoreConfig(FeastConfigBaseModel):
    """feature_store.yaml's `online_store` for Redis."""

    type: Literal["features.online_stores.redis_store.OrderShieldRedisOnlineStore"] = (
        "features.online_stores.redis_store.OrderShieldRedisOnlineStore"
    )
    url: StrictStr = "redis://localhost:6379/0"
    """`redis://[:password@]host:port/db`, or `rediss://` for TLS."""
    key_ttl_seconds: int | None = None
    """Expire an entity's hash this long after its last write (None: never)."""
    socket_timeout: float | None = None
    """Seconds a command may wait for Redis (None: forever)."""
    socket_connect_timeout: float | None = None
    """Seconds a connection may take to open (None: forever)."""


class OrderShieldRedisOnlineStore(RowsOnlineStore):
    """The Redis online store as Feast sees it (apply, materialize, serve)."""

    def open_rows(self, config: RepoConfig) -> RedisRows:
        """Connect to the Redis of this repo."""
        return redis_rows(config)


def redis_rows(config: RepoConfig, timeout_seconds: float | None = None) -> RedisRows:
    """Return the rows of a repo configured with the Redis store.

    `timeout_seconds` replaces the repo's socket timeouts (the scoring path's
    budget is far shorter than a bulk load's). A command is never retried: a
    retry with backoff (redis-py's default since 6.0) would outlast any deadline,
    and the caller knows better what to do with a failure.
    """
    online = config.online_store
    if not isinstance(online, OrderShieldRedisOnlineStoreConfig):
        raise TypeError(f"not the Redis online store: {type(online).__name__}")
    client = redis.Redis.from_url(
        online.url,
        socket_timeout=timeout_seconds or online.socket_timeout,
        socket_connect_timeout=timeout_seconds or online.socket_connect_timeout,
        retry=Retry(NoBackoff(), 0),
        retry_on_timeout=False,
    )
    return RedisRows(client, config.project, online.key_ttl_seconds)


class RedisRows:
    """Rows of one project in Redis: one script call per read, one per write."""

    def __init__(self, client: redis.Redis[bytes], project: str, ttl_seconds: int | None) -> None:
        self.client = client
        self.project = project
        self.ttl_seconds = ttl_seconds

    def hash_key(self, view: str, key: str) -> str:
        """Return the name of an entity's hash in a view."""
        return f"{self.project}:{view}:{key}"

    def read(self, cells: Sequence[Cell]) -> list[bytes | None]:
        """Return each cell's value from one script call (one moment's values, one round trip)."""
        if not cells:
            return []
        keys = [self.hash_key(view, key) for view, key, _ in cells]
        # EVAL, not EVALSHA, as for writes: no second round trip after a Redis restart.
        found: list[bytes | None] = self.client.eval(  # type: ignore[no-untyped-call]
            READ_SCRIPT, len(keys), *keys, *(name for _, _, name in cells)
        )
        return found

    def read_rows(
        self, view: str, keys: Sequence[str], features: Sequence[str]
    ) -> list[StoredRow | None]:
        """Return each key's row of `view` from one pipelined round trip."""
        fields = [*features, TIME_FIELD]
        with self.client.pipeline(transaction=False) as pipe:
            for key in keys:
                pipe.hmget(self.hash_key(view, key), fields)
            replies: list[list[bytes | None]] = pipe.execute()
        rows: list[StoredRow | None] = []
        for *values, event_us in replies:
            if event_us is None:
                rows.append(None)
                continue
            pairs = zip(features, values, strict=True)
            stored = {name: value for name, value in pairs if value is not None}
            rows.append(StoredRow(int(event_us), stored))
        return rows

    def write(
        self, rows: Sequence[Row], count: Cell | None = None, expect: Sequence[Expected] = ()
    ) -> int | None:
        """Store every row in one script call, so a reader sees all of them or none."""
        keys = [self.hash_key(view, key) for (view, key, _), _ in expect]
        args: list[str | bytes | int] = [len(expect)]
        for (_, _, name), digest in expect:
            args += [name, digest or ""]
        args.append(len(rows))
        for row in rows:
            keys.append(self.hash_key(row.view, row.key))
            ttl = self.ttl_seconds if row.ttl_seconds is None else row.ttl_seconds
            args += [len(row.values) + 1, ttl or 0]
            for name, value in row.values.items():
                args += [name, value]
            args += [TIME_FIELD, row.event_us]
        if count is not None:
            keys.append(self.hash_key(count[0], count[1]))
            args.append(count[2])
        # EVAL, not EVALSHA: a write never depends on a script cache that a
        # restarted Redis lost (NOSCRIPT, then a second round trip past the deadline).
        result = int(self.client.eval(WRITE_SCRIPT, len(keys), *keys, *args))  # type: ignore[no-untyped-call]
        if result < 0:
            raise Conflict("a state changed since it was read")
        return None if count is None else result

    def delete_views(self, views: Sequence[str]) -> None:
        """Remove the hashes of these views, a batch of keys at a time."""
        for view in views:
            pattern = glob_escape(self.hash_key(view, "")) + "*"
            batch: list[bytes] = []
            for name in self.client.scan_iter(match=pattern, count=DELETE_BATCH):
                batch.append(name)
                if len(batch) == DELETE_BATCH:
                    self.client.unlink(*batch)
                    batch.clear()
            if batch:
                self.client.unlink(*batch)

    def expire(self, view: str, before_us: int) -> None:
        """Nothing to do: Redis expires each row by its own TTL."""

    def checkpoint(self) -> None:
        """Nothing to do: Redis persists (or not) by its own configuration."""


def glob_escape(text: str) -> str:
    """Return `text` as a Redis glob pattern that matches only itself."""
    return "".join("\\" + c if c in "*?[]\\" else c for c in text)
