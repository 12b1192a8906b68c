"""L3: Redis, shared by every execution environment.

A failing or slow Redis must not fail requests: after an error the tier is skipped for
`retry_after_s`, then tried again, so it recovers without a restart. One log line marks the
start and the end of each incident, not every request.
"""

import hashlib
import time
from collections.abc import Awaitable, Callable
from functools import cache
from typing import TYPE_CHECKING

from aether.telemetry import count, logger

if TYPE_CHECKING:
    from redis.asyncio import Redis

__all__ = ["RedisTier"]

# Reads the namespace version and the entry in one round trip; on a miss it also tries to take
# the fill lock, so one caller across all environments computes the value. A hit returns one
# string "<version>:<value>" (cheapest to parse); a miss returns {version, lock taken}.
# KEYS: version key. ARGV: key prefix (before the version), key suffix, lock token, lock ms.
# The entry's key is built inside the script; the namespace's hash tag keeps it in KEYS[1]'s slot.
_READ = """
local version = redis.call('GET', KEYS[1]) or '0'
local key = ARGV[1] .. version .. ARGV[2]
local value = redis.call('GET', key)
if value then return version .. ':' .. value end
local locked = 0
if tonumber(ARGV[4]) > 0 and redis.call('SET', key .. ':lock', ARGV[3], 'NX', 'PX', ARGV[4]) then
  locked = 1
end
return {version, locked}
"""
_READ_SHA = hashlib.sha1(_READ.encode()).hexdigest()


@cache
def _redis_errors() -> tuple[type[Exception], type[Exception], type[Exception]]:
    """redis-py's RedisError, NoScriptError and ConnectionError, imported on first use (not at cold
    start)."""
    from redis.exceptions import ConnectionError, NoScriptError, RedisError

    return RedisError, NoScriptError, ConnectionError


def _no_free_connection(exc: BaseException) -> bool:
    """The connection pool found no free connection within REDIS_POOL_WAIT_MS (redis-py raises a
    ConnectionError from the wait's TimeoutError)."""
    return isinstance(exc, _redis_errors()[2]) and isinstance(exc.__cause__, TimeoutError)


class RedisTier:
    def __init__(self, client: "Callable[[], Redis | None]", retry_after_s: float = 5.0) -> None:
        self._client = client
        self.retry_after_s = retry_after_s
        self._down_until = 0.0
        self.incidents = 0

    @property
    def available(self) -> bool:
        """Redis is configured and not marked down (whether it answers, only a call tells)."""
        return self._client() is not None and time.monotonic() >= self._down_until

    async def call[T](self, operation: "Callable[[Redis], Awaitable[T]]") -> T | None:
        """Run one Redis operation; None when Redis is not configured, marked down, or failing."""
        client = self._client()
        if client is None or time.monotonic() < self._down_until:
            return None
        try:
            result = await operation(client)
        except (_redis_errors()[0], OSError) as exc:
            if _no_free_connection(exc):  # this environment is busy, not Redis down: this call only
                count("RedisPoolWaits")
                return None
            if self._down_until == 0.0:
                self.incidents += 1
                count("RedisIncidents")
                logger.warning("redis unavailable; serving without L3", extra={"error": type(exc).__name__})
            self._down_until = time.monotonic() + self.retry_after_s
            return None
        if self._down_until:
            logger.info("redis available again")
            self._down_until = 0.0
        return result

    async def read(
        self, version_key: str, prefix: str, suffix: str, lock_token: str, lock_ms: int
    ) -> tuple[int, bytes | None, bool] | None:
        """(namespace version, value, lock taken) in one round trip; None if Redis is unavailable."""

        async def run(client: "Redis") -> tuple[int, bytes | None, bool]:
            args = (version_key, prefix, suffix, lock_token, lock_ms)
            try:
                result = await client.evalsha(_READ_SHA, 1, *args)
            except _redis_errors()[1]:
                result = await client.eval(_READ, 1, *args)
            if isinstance(result, bytes):
                version, _, value = result.partition(b":")
                return int(version), value, False
            return int(result[0]), None, bool(result[1])

        return await self.call(run)
