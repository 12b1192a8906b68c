"""Every metric Aether emits: name -> (unit, dimensions besides `service`). The one place they are named.

The template's dashboard and alarms may only use these names (a test checks it).
"""

from typing import Literal

__all__ = ["METRICS", "Unit"]

Unit = Literal["Count", "Milliseconds", "Megabytes", "Percent", "None"]

METRICS: dict[str, tuple[Unit, tuple[str, ...]]] = {
    # per route
    "Requests": ("Count", ("route",)),
    "Latency": ("Milliseconds", ("route",)),
    "Errors5xx": ("Count", ("route",)),
    "Errors4xx": ("Count", ("route",)),
    # per model
    "ModelLatency": ("Milliseconds", ("model",)),
    "TimeToFirstToken": ("Milliseconds", ("model",)),
    "TokensIn": ("Count", ("model",)),
    "TokensOut": ("Count", ("model",)),
    "CostUSD": ("None", ("model",)),
    "ModelRetries": ("Count", ()),
    "ModelFallbacks": ("Count", ()),
    # cache: lookups by outcome, and hits and misses per tier
    "CacheHit": ("Count", ()),
    "CacheMiss": ("Count", ()),
    "TierHits": ("Count", ("tier",)),
    "TierMisses": ("Count", ("tier",)),
    "RedisIncidents": ("Count", ()),
    "RedisPoolWaits": ("Count", ()),  # a call that found no free connection in time (Redis not down)
    # the execution environment
    "ColdStart": ("Count", ()),
    "MemoryUsedMB": ("Megabytes", ()),
    "MemoryUtilization": ("Percent", ()),
    "CpuTime": ("Milliseconds", ()),
    "DbLatency": ("Milliseconds", ()),
    # writes MongoDB did not take: usage records kept in the Redis outbox, drained from it, or only
    # logged (MongoDB and Redis both down), and conversation turns not stored after their retry
    "UsageOutboxed": ("Count", ()),
    "UsageDrained": ("Count", ()),
    "UsageLogged": ("Count", ()),
    "TurnsNotStored": ("Count", ()),
}
