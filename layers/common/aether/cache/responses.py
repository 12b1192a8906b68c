"""AI-response cache in Redis (the shared L3 tier).

A Redis failure never fails the request: the answer comes from the model instead, and the
failure is logged (it is not silently treated as a miss).
"""

import hashlib
import json
from typing import Any

from redis.exceptions import RedisError

from aether import clients
from aether.settings import get_settings
from aether.telemetry import logger

__all__ = ["get", "key_for", "put"]

_PREFIX = "aether:resp:v1:"


def normalize(prompt: str) -> str:
    return " ".join(prompt.lower().split())


def key_for(
    *,
    scope: str,
    agent: str,
    model: str,
    prompt: str,
    history: list[dict[str, str]],
    temperature: float,
    max_tokens: int,
) -> str:
    """Key over user scope, agent, model, normalized prompt, history and generation parameters."""
    material = json.dumps(
        [scope, agent, model, normalize(prompt), history, temperature, max_tokens],
        separators=(",", ":"),
    )
    return _PREFIX + hashlib.sha256(material.encode()).hexdigest()


async def get(key: str) -> dict[str, Any] | None:
    redis = clients.redis()
    if redis is None:
        return None
    try:
        raw = await redis.get(key)
    except RedisError as exc:
        logger.warning("response cache read failed", extra={"error": type(exc).__name__})
        return None
    return json.loads(raw) if raw is not None else None


async def put(key: str, value: dict[str, Any]) -> None:
    redis = clients.redis()
    if redis is None:
        return
    try:
        await redis.set(key, json.dumps(value, separators=(",", ":")), ex=get_settings().response_cache_ttl_s)
    except RedisError as exc:
        logger.warning("response cache write failed", extra={"error": type(exc).__name__})
