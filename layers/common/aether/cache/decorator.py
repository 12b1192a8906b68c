"""`@cached`: the tiered cache around an async function whose result is JSON-serialisable."""

import functools
import hashlib
import json
from collections.abc import Awaitable, Callable
from typing import cast

from aether.cache import get_cache
from aether.cache.tiered import TierName

__all__ = ["cached"]


def cached[**P, R](
    ttl: int, tiers: tuple[TierName, ...] = ("l1", "l3"), namespace: str = "shared"
) -> Callable[[Callable[P, Awaitable[R]]], Callable[P, Awaitable[R]]]:
    def decorate(fn: Callable[P, Awaitable[R]]) -> Callable[P, Awaitable[R]]:
        @functools.wraps(fn)
        async def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
            material = json.dumps([fn.__module__, fn.__qualname__, args, kwargs], default=str, sort_keys=True)
            key = hashlib.sha256(material.encode()).hexdigest()

            async def compute() -> bytes:
                return json.dumps(await fn(*args, **kwargs), separators=(",", ":")).encode()

            lookup = await get_cache().get_or_compute(namespace, key, compute, ttl_s=ttl, tiers=tiers)
            return cast(R, json.loads(lookup.value))  # what fn returned, through JSON

        return wrapper

    return decorate
