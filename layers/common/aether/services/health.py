"""Real checks of the dependencies: MongoDB, Redis, the model provider.

An environment runs them at most once per HEALTH_CHECK_INTERVAL_S and answers from that result
in between: the route needs no token, so a caller must not be able to make it call the model
provider (or the databases) once per request.
"""

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

from aether import clients
from aether.cache import get_cache
from aether.settings import get_settings

__all__ = ["health"]

CHECK_TIMEOUT_S = 1.5


async def _timed(check: Callable[[], Awaitable[bool]]) -> dict[str, Any]:
    started = time.perf_counter()
    error: str | None = None
    try:
        async with asyncio.timeout(CHECK_TIMEOUT_S):
            ok = await check()
    except Exception as exc:  # any failure of a dependency is its status, not ours
        ok, error = False, type(exc).__name__
    else:
        error = None if ok else "unavailable"
    result: dict[str, Any] = {
        "status": "healthy" if ok else "degraded",
        "latency_ms": round((time.perf_counter() - started) * 1000, 2),
    }
    if error:
        result["error"] = error
    return result


async def _mongo() -> bool:
    await clients.mongo_db().command("ping")
    return True


async def _redis() -> bool:
    if clients.redis() is None:
        return False
    return bool(await get_cache().l3.call(lambda r: r.ping()))


async def _model() -> bool:
    await clients.groq().models.list(timeout=CHECK_TIMEOUT_S)
    return True


_last: tuple[float, dict[str, dict[str, Any]]] | None = None  # (monotonic time, checks)


async def _checks() -> tuple[dict[str, dict[str, Any]], float]:
    """The checks and their age in seconds: run again once the last are HEALTH_CHECK_INTERVAL_S old."""
    global _last
    now = time.monotonic()
    if _last is None or now - _last[0] >= get_settings().health_check_interval_s:
        mongo, redis, model = await asyncio.gather(_timed(_mongo), _timed(_redis), _timed(_model))
        _last = (now, {"mongodb": mongo, "redis": redis, "model_provider": model})
    return _last[1], now - _last[0]


async def health(details: bool) -> tuple[int, dict[str, Any]]:
    """(HTTP status, body): 503 when MongoDB is down, else 200; details for administrators only."""
    checks, age_s = await _checks()
    mongo, redis = checks["mongodb"], checks["redis"]
    if clients.redis() is None:
        redis = {"status": "degraded", "latency_ms": 0.0, "error": "not configured"}
    checks = {**checks, "redis": redis}
    down = mongo["status"] != "healthy"
    overall = (
        "down"
        if down
        else ("healthy" if all(c["status"] == "healthy" for c in checks.values()) else "degraded")
    )
    body: dict[str, Any] = {"status": overall}
    if details:
        body["checks"] = checks
        body["checked_s_ago"] = round(age_s, 1)
    return (503 if down else 200), body
