"""Groq's rate-limit headroom per model, shared by every execution environment through Redis.

Groq answers with `x-ratelimit-*` headers. An environment keeps what it learns in memory and
publishes it to Redis only when a model gets close to its limit (or answers 429), so the normal
path costs no Redis round trip; it re-reads the shared view at most every `refresh_s`, beside
other I/O. A model near its limit is tried last until its window resets, before it can answer 429.
"""

import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from aether.cache.redis_tier import RedisTier

if TYPE_CHECKING:
    from redis.asyncio import Redis
    from redis.typing import EncodableT

__all__ = ["Headroom", "RateLimits", "parse_duration"]

_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|h|m|s)")
_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
NEAR = 0.05  # a model with under 5% of its requests or tokens left is near its limit


def parse_duration(text: str | None) -> float:
    """Groq's reset durations ("1m26.4s", "7.66s", "120ms") in seconds; 0 when absent."""
    if not text:
        return 0.0
    try:
        return float(text)
    except ValueError:
        return sum(float(n) * _SECONDS[unit] for n, unit in _DURATION.findall(text))


@dataclass(frozen=True, slots=True)
class Headroom:
    remaining_requests: float
    limit_requests: float
    remaining_tokens: float
    limit_tokens: float
    until: float  # epoch seconds when the window resets (or a 429's retry-after ends)
    blocked: bool = False

    def near_limit(self, now: float) -> bool:
        if now >= self.until:
            return False
        if self.blocked:
            return True
        return (self.limit_requests > 0 and self.remaining_requests <= self.limit_requests * NEAR) or (
            self.limit_tokens > 0 and self.remaining_tokens <= self.limit_tokens * NEAR
        )

    def as_fields(self) -> "dict[EncodableT, EncodableT]":
        return {
            "remaining_requests": self.remaining_requests,
            "limit_requests": self.limit_requests,
            "remaining_tokens": self.remaining_tokens,
            "limit_tokens": self.limit_tokens,
            "until": self.until,
            "blocked": float(self.blocked),
        }

    @classmethod
    def from_fields(cls, fields: Mapping[bytes, bytes]) -> "Headroom":
        values = {k.decode(): float(v) for k, v in fields.items()}
        return cls(
            remaining_requests=values.get("remaining_requests", 0.0),
            limit_requests=values.get("limit_requests", 0.0),
            remaining_tokens=values.get("remaining_tokens", 0.0),
            limit_tokens=values.get("limit_tokens", 0.0),
            until=values.get("until", 0.0),
            blocked=bool(values.get("blocked", 0.0)),
        )

    @classmethod
    def from_headers(
        cls, headers: Mapping[str, str], now: float, retry_after: float | None = None
    ) -> "Headroom":
        reset = max(
            parse_duration(headers.get("x-ratelimit-reset-requests")),
            parse_duration(headers.get("x-ratelimit-reset-tokens")),
        )
        return cls(
            remaining_requests=float(headers.get("x-ratelimit-remaining-requests") or 0),
            limit_requests=float(headers.get("x-ratelimit-limit-requests") or 0),
            remaining_tokens=float(headers.get("x-ratelimit-remaining-tokens") or 0),
            limit_tokens=float(headers.get("x-ratelimit-limit-tokens") or 0),
            until=now + (retry_after if retry_after is not None else reset),
            blocked=retry_after is not None,
        )


class RateLimits:
    def __init__(self, l3: RedisTier, refresh_s: float = 5.0) -> None:
        self._l3 = l3
        self.refresh_s = refresh_s
        self._known: dict[str, Headroom] = {}
        self._refreshed = 0.0

    @staticmethod
    def _key(model: str) -> str:
        return f"aether:ratelimit:{model}"

    def order(self, chain: tuple[str, ...]) -> tuple[str, ...]:
        """The chain with models near their limit moved to the end (kept, in case all are)."""
        now = time.time()
        near = {m for m in chain if m in self._known and self._known[m].near_limit(now)}
        return tuple(m for m in chain if m not in near) + tuple(m for m in chain if m in near)

    async def refresh_if_due(self, models: tuple[str, ...]) -> None:
        """Re-read the shared view of `models` if it is older than `refresh_s`.

        Callers run this beside other I/O at the end of a request, so it adds no stage to the
        critical path; the next request of this environment orders its chain with it.
        """
        now = time.time()
        if now - self._refreshed < self.refresh_s:
            return
        self._refreshed = now

        async def read(client: "Redis") -> list[Mapping[bytes, bytes]]:
            pipe = client.pipeline(transaction=False)
            for model in models:
                pipe.hgetall(self._key(model))
            return await pipe.execute()

        shared = await self._l3.call(read)
        for model, fields in zip(models, shared or (), strict=False):
            if fields:
                self._known[model] = Headroom.from_fields(fields)

    async def observe(self, model: str, headers: Mapping[str, str], retry_after: float | None = None) -> None:
        """Learn from a response's headers; publish to Redis only when the model is near its limit."""
        if retry_after is None and "x-ratelimit-remaining-requests" not in headers:
            return
        now = time.time()
        headroom = Headroom.from_headers(headers, now, retry_after)
        self._known[model] = headroom
        if headroom.near_limit(now):
            ttl = max(1, int(headroom.until - now) + 1)

            async def publish(client: "Redis") -> None:
                pipe = client.pipeline(transaction=False)
                pipe.hset(self._key(model), mapping=headroom.as_fields())
                pipe.expire(self._key(model), ttl)
                await pipe.execute()

            await self._l3.call(publish)
