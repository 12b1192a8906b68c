"""Live figures shared by every execution environment: one Redis hash per minute and per hour.

Each request adds its figures to the current minute's hash and the current hour's in one
pipelined round trip (`publish`): latency buckets and counts per route (a streamed response's
route is labelled apart, with its time to first token), per model and for the database, cache
outcomes, cold starts and memory per function, and the analytics-cache invalidation of users
whose usage changed. Minute hashes expire after `RETENTION_S`, hour hashes after
`HOUR_RETENTION_S`. The dashboard reads a window (`read_window`) as points, one per minute up to
24 hours and one per hour beyond, in a few pipelined round trips; its totals are the points' sum.
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

__all__ = [
    "HOUR_RETENTION_S",
    "MINUTE_WINDOW_MAX",
    "RETENTION_S",
    "STREAM",
    "Minute",
    "Window",
    "publish",
    "read_window",
]

RETENTION_S = 25 * 3600  # minute hashes: a 24-hour window plus margin
HOUR_RETENTION_S = 8 * 24 * 3600  # hour hashes: a 7-day window plus margin
MINUTE_WINDOW_MAX = 1440  # longer windows are read from the hour hashes
STREAM = " (stream)"  # the label suffix of a route's streamed responses
_PREFIX = "aether:live:"
_READ_BATCH = 500  # HGETALLs per pipelined round trip when reading a window

# Adds a request to the minute's hash (KEYS[1]) and the hour's (KEYS[2]) in one command (one reply
# to parse, not one per field). ARGV: n, n field/increment pairs, m, m field/value pairs (levels
# such as memory: the highest is kept), the minute's ttl, the hour's ttl.
_ADD = """
local i = 2
for _ = 1, tonumber(ARGV[1]) do
  redis.call('HINCRBYFLOAT', KEYS[1], ARGV[i], ARGV[i + 1])
  redis.call('HINCRBYFLOAT', KEYS[2], ARGV[i], ARGV[i + 1]); i = i + 2
end
local m = tonumber(ARGV[i]); i = i + 1
for _ = 1, m do
  for _, key in ipairs(KEYS) do
    if tonumber(redis.call('HGET', key, ARGV[i]) or '-1') < tonumber(ARGV[i + 1]) then
      redis.call('HSET', key, ARGV[i], ARGV[i + 1])
    end
  end
  i = i + 2
end
redis.call('EXPIRE', KEYS[1], ARGV[i])
redis.call('EXPIRE', KEYS[2], ARGV[i + 1])
return 1
"""


def _minute_key(minute: int) -> str:
    # The hour in braces: a minute and its hour share a Redis Cluster slot, as one EVAL needs.
    return f"{_PREFIX}{{{minute // 60}}}:m{minute}"


def _hour_key(hour: int) -> str:
    return f"{_PREFIX}{{{hour}}}:h"


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
    ttft_ms: float | None = None  # a streamed response's time to its first token, else None
    users_with_new_usage: Iterable[str] = ()


async def publish(minute: Minute) -> None:
    """Add this invocation to the current minute: one pipelined round trip (none if Redis is down)."""
    fields: defaultdict[str, float] = defaultdict(float)
    route = minute.route
    if minute.ttft_ms is not None:
        route += STREAM
        fields[f"ttft|{route}|b{bucket(minute.ttft_ms)}"] += 1
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
    now_minute = int(time.time() // 60)
    keys = (_minute_key(now_minute), _hour_key(now_minute // 60))

    levels = {
        f"svc|{service}|mem_mb": minute.memory_mb,
        f"svc|{service}|mem_limit_mb": minute.memory_limit_mb,
    }
    args: list[str | float] = [len(fields), *(x for pair in fields.items() for x in pair)]
    args += [len(levels), *(x for pair in levels.items() for x in pair), RETENTION_S, HOUR_RETENTION_S]

    async def write(client: "Redis") -> None:
        pipe = client.pipeline(transaction=False)
        pipe.eval(_ADD, 2, *keys, *args)  # EVAL, not EVALSHA: nothing to reload after a Redis restart
        for user_id in minute.users_with_new_usage:  # other cluster slots: plain commands beside it
            pipe.incr(TieredCache.version_key(f"analytics:{user_id}"))
        await pipe.execute()

    with timing.span("telemetry"):
        await get_cache().l3.call(write)


def _is_level(name: str) -> bool:
    return name.endswith(("|mem_mb", "|mem_limit_mb"))


@dataclass
class Window:
    """A window's points (start of each, in epoch seconds, and its fields) and their sum.

    Every point of the window is there, an empty one for a minute or hour without requests. The
    totals add the points' counts; levels (memory) are the highest of any point."""

    step_s: int
    points: list[tuple[int, dict[str, float]]] = field(default_factory=list)
    totals: dict[str, float] = field(default_factory=dict)
    round_trips: int = 0
    hashes_read: int = 0


async def read_window(minutes: int, now: float | None = None) -> Window | None:
    """The last `minutes` minutes, per minute up to MINUTE_WINDOW_MAX, else per hour (the current
    hour and those before it, so a little more than asked); None when Redis is unavailable."""
    current = int((now if now is not None else time.time()) // 60)
    if minutes <= MINUTE_WINDOW_MAX:
        step_s, starts = 60, list(range(current - minutes + 1, current + 1))
        keys = [_minute_key(m) for m in starts]
    else:
        hours = -(-minutes // 60)
        step_s, starts = 3600, list(range(current // 60 - hours + 1, current // 60 + 1))
        keys = [_hour_key(h) for h in starts]
    window = Window(step_s)
    totals: defaultdict[str, float] = defaultdict(float)
    for first in range(0, len(keys), _READ_BATCH):
        batch = keys[first : first + _READ_BATCH]

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
        for start, raw in zip(starts[first : first + _READ_BATCH], hashes, strict=True):
            point = {name.decode(): float(value) for name, value in raw.items()}
            window.points.append((start * step_s, point))
            for name, value in point.items():
                totals[name] = max(totals[name], value) if _is_level(name) else totals[name] + value
    window.totals = dict(totals)
    return window
