"""L3: Redis, shared by every execution environment.

A failing or slow Redis must not fail requests: after an error the tier is skipped for
`retry_after_s`, then tried again, so it recovers without a restart. One log line marks the
start and the end of each incident, not every request.
"""

import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from aether.telemetry import count, logger

if TYPE_CHECKING:
    from redis.asyncio import Redis

__all__ = ["RedisTier"]

# Reads the namespace version and the entry in one round trip; on a miss it also tries to take
# the fill lock, so one caller across all environments computes the value.
# KEYS: version key. ARGV: key prefix (before the version), key suffix, lock token, lock ms.
_READ = """
local version = redis.call('GET', KEYS[1]) or '0'
local key = ARGV[1] .. version .. ARGV[2]
local value = redis.call('GET', key)
local locked = 0
if not value and tonumber(ARGV[4]) > 0 then
  if redis.call('SET', key .. ':lock', ARGV[3], 'NX', 'PX', ARGV[4]) then locked = 1 end
end
return {version, value, locked}
"""


class RedisTier:
    def __init__(self, client: "Callable[[], Redis | None]", retry_after_s: float = 5.0) -> None:
        self._client = client
        self.retry_after_s = retry_after_s
        self._down_until = 0.0
        self._read = None
        self.incidents = 0

    @property
    def available(self) -> bool:
        return self._client() is not None and time.monotonic() >= self._down_until

    async def call[T](self, operation: "Callable[[Redis], Awaitable[T]]") -> T | None:
        """Run one Redis operation; None when Redis is not configured, marked down, or failing."""
        from redis.exceptions import RedisError

        client = self._client()
        if client is None or time.monotonic() < self._down_until:
            return None
        try:
            result = await operation(client)
        except (RedisError, OSError) as exc:
            if self._down_until == 0.0:
                self.incidents += 1
                count("RedisIncidents", "tier", "l3")
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
            if self._read is None:
                self._read = client.register_script(_READ)
            version, value, locked = await self._read(
                keys=[version_key], args=[prefix, suffix, lock_token, lock_ms], client=client
            )
            return int(version), value, bool(locked)

        return await self.call(run)
