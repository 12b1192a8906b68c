"""Live figures shared by every execution environment: one Redis hash per minute.

Each request adds its figures to the current minute's hash in one pipelined round trip
(`publish`): latency buckets and counts per route, per model and for the database, cache
outcomes, cold starts and memory per function, and the analytics-cache invalidation of users
whose usage changed. The hashes expire on their own after `RETENTION_S`. The dashboard merges
the minutes of its window (`read_window`) in a few pipelined round trips.
"""

import time
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from aether.cache import get_cache
from aether.cache.tiered import TieredCache
from aether.telemetry import pending, timing
from aether.telemetry.histogram import bucket

if TYPE_CHECKING:
    from redis.asyncio import Redis

__all__ = ["RETENTION_S", "Minute", "Window", "publish", "read_window"]

RETENTION_S = 25 * 3600  # a 24-hour window plus margin
_PREFIX = "aether:live:"
_READ_BATCH = 500  # HGETALLs per pipelined round trip when reading a window

# Adds a request to a minute's hash in one command (one reply to parse, not one per field).
# ARGV: n, n field/increment pairs, m, m field/value pairs (levels such as memory), ttl.
_ADD = """
local i = 2
for _ = 1, tonumber(ARGV[1]) do
  redis.call('HINCRBYFLOAT', KEYS[1], ARGV[i], ARGV[i + 1]); i = i + 2
end
local m = tonumber(ARGV[i]); i = i + 1
for _ = 1, m do
  redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1]); i = i + 2
end
redis.call('EXPIRE', KEYS[1], ARGV[i])
return 1
"""


def _key(minute: int) -> str:
    return f"{_PREFIX}{minute}"


@dataclass
class Minute:
    """One invocation's contribution to the current minute."""

    service: str
    route: str
    status: int
    latency_ms: float
    cold_start: bool
    memory_mb: float
    memory_limit_mb: float
    users_with_new_usage: Iterable[str] = ()


async def publish(minute: Minute) -> None:
    """Add this invocation to the current minute: one pipelined round trip (none if Redis is down)."""
    fields: defaultdict[str, float] = defaultdict(float)
    route = minute.route
    fields[f"route|{route}|n"] += 1
    fields[f"route|{route}|b{bucket(minute.latency_ms)}"] += 1
    if minute.status >= 500:
        fields[f"route|{route}|5xx"] += 1
    elif minute.status >= 400:
        fields[f"route|{route}|4xx"] += 1
    for dimensions, values in pending().items():
        dims = dict(dimensions)
        for name, samples in values.items():
            if name == "ModelLatency":
                for ms in samples:
                    fields[f"model|{dims['model']}|b{bucket(ms)}"] += 1
            elif name in ("TokensIn", "TokensOut", "CostUSD"):
                fields[f"model|{dims['model']}|{name}"] += samples[0]
            elif name == "DbLatency":
                for ms in samples:
                    fields[f"db|b{bucket(ms)}"] += 1
            elif name in ("TierHits", "TierMisses"):
                fields[f"tier|{dims['tier']}|{name}"] += samples[0]
            elif name in ("CacheHit", "CacheMiss"):
                fields[f"cache|{name}"] += samples[0]
    service = minute.service
    fields[f"svc|{service}|n"] += 1
    if minute.cold_start:
        fields[f"svc|{service}|cold"] += 1
    key = _key(int(time.time() // 60))

    levels = {
        f"svc|{service}|mem_mb": minute.memory_mb,
        f"svc|{service}|mem_limit_mb": minute.memory_limit_mb,
    }
    args: list[str | float] = [len(fields), *(x for pair in fields.items() for x in pair)]
    args += [len(levels), *(x for pair in levels.items() for x in pair), RETENTION_S]

    async def write(client: "Redis") -> None:
        pipe = client.pipeline(transaction=False)
        pipe.eval(_ADD, 1, key, *args)  # EVAL, not EVALSHA: nothing to reload after a Redis restart
        for user_id in minute.users_with_new_usage:  # other cluster slots: plain commands beside it
            pipe.incr(TieredCache.version_key(f"analytics:{user_id}"))
        await pipe.execute()

    with timing.span("telemetry"):
        await get_cache().l3.call(write)


@dataclass
class Window:
    """The merged minutes of a window: field -> total, and the per-minute memory readings."""

    minutes: int
    totals: dict[str, float] = field(default_factory=dict)
    round_trips: int = 0
    hashes_read: int = 0


async def read_window(minutes: int, now: float | None = None) -> Window | None:
    """Merge the last `minutes` minutes; None when Redis is unavailable."""
    current = int((now if now is not None else time.time()) // 60)
    keys = [_key(m) for m in range(current - minutes + 1, current + 1)]
    window = Window(minutes)
    totals: defaultdict[str, float] = defaultdict(float)
    for start in range(0, len(keys), _READ_BATCH):
        batch = keys[start : start + _READ_BATCH]

        async def read(client: "Redis", batch: list[str] = batch) -> list[dict[bytes, bytes]]:
            pipe = client.pipeline(transaction=False)
            for key in batch:
                pipe.hgetall(key)
            return await pipe.execute()

        hashes = await get_cache().l3.call(read)
        if hashes is None:
            return None
        window.round_trips += 1
        window.hashes_read += len(batch)
        for fields in hashes:
            for name, value in fields.items():
                text = name.decode()
                if text.endswith(("|mem_mb", "|mem_limit_mb")):
                    totals[text] = max(totals[text], float(value))
                else:
                    totals[text] += float(value)
    window.totals = dict(totals)
    return window
