"""Process-wide clients, created on first use and reused across warm invocations.

The client libraries are imported on first use too, which keeps them out of the import of a
function module (see BENCHMARKS.md).

Mangum keeps one event loop for the life of the execution environment, so the async
clients created here stay bound to a loop that outlives every invocation.
"""

from typing import TYPE_CHECKING, Any

from aether.settings import get_settings

if TYPE_CHECKING:
    from groq import AsyncGroq
    from pymongo import AsyncMongoClient
    from pymongo.asynchronous.database import AsyncDatabase
    from redis.asyncio import Redis

__all__ = ["Document", "close_all", "groq", "mongo_client", "mongo_db", "redis"]

Document = dict[str, Any]  # what the Mongo client reads and writes

_mongo: "AsyncMongoClient[Document] | None" = None
_redis: "Redis | None" = None
_groq: "AsyncGroq | None" = None


SECRET_MAX_AGE_S = 300  # how long Powertools' cache answers before a secret is read again


def _secret(value: str, arn: str) -> str:
    """A configured value, else the secret named by `arn`: a Secrets Manager secret, or an SSM
    parameter (`arn:aws:ssm:...:parameter/...`, decrypted), cached by Powertools in this
    execution environment for SECRET_MAX_AGE_S."""
    if value or not arn:
        return value
    from aws_lambda_powertools.utilities import parameters

    if arn.split(":")[2:3] == ["ssm"]:
        return str(parameters.get_parameter(arn, decrypt=True, max_age=SECRET_MAX_AGE_S))
    return str(parameters.get_secret(arn, max_age=SECRET_MAX_AGE_S))


def mongo_client() -> "AsyncMongoClient[Document]":
    global _mongo
    if _mongo is None:
        from pymongo import AsyncMongoClient

        from aether.telemetry.db import CommandTimer

        settings = get_settings()
        # Read once: a pool cannot change its credentials, so a new URL reaches new environments
        url = _secret(settings.mongo_url, settings.mongo_url_secret_arn)
        if not url:
            raise RuntimeError("MONGO_URL or MONGO_URL_SECRET_ARN must be set")
        _mongo = AsyncMongoClient(
            url,
            maxPoolSize=settings.mongo_max_pool_size,
            minPoolSize=0,
            serverSelectionTimeoutMS=settings.mongo_timeout_ms,
            connectTimeoutMS=settings.mongo_timeout_ms,
            appname="aether",
            event_listeners=[CommandTimer()],
        )
    return _mongo


def mongo_db() -> "AsyncDatabase[Document]":
    return mongo_client()[get_settings().mongo_db]


def redis() -> "Redis | None":
    """The shared Redis client, or None when no REDIS_URL is configured.

    Its pool holds at most REDIS_MAX_CONNECTIONS and a command waits up to REDIS_POOL_WAIT_MS
    for a free one (redis-py's default pool opens connections without bound, and a bounded one
    raises at once). A connection idle for REDIS_HEALTH_CHECK_S is pinged before use, so one
    left over from before a restart or a failover is replaced rather than failing a command; a
    command whose connection breaks is sent once more on a new one (a server that restarted never
    ran it). A timeout is not retried: a paused or slow Redis may have run it.
    """
    global _redis
    settings = get_settings()
    if _redis is None and settings.redis_url:
        from redis.asyncio import BlockingConnectionPool, Redis
        from redis.asyncio.retry import Retry
        from redis.backoff import NoBackoff
        from redis.exceptions import ConnectionError as RedisConnectionError

        pool = BlockingConnectionPool.from_url(
            settings.redis_url,
            max_connections=settings.redis_max_connections,
            timeout=settings.redis_pool_wait_ms / 1000,
            socket_timeout=settings.redis_timeout_ms / 1000,
            socket_connect_timeout=settings.redis_connect_timeout_ms / 1000,
            health_check_interval=settings.redis_health_check_s,
            retry=Retry(NoBackoff(), 1),
            retry_on_error=[RedisConnectionError],
            client_name="aether",
        )
        _redis = Redis.from_pool(pool)  # closing the client closes its pool
    return _redis


def groq() -> "AsyncGroq":
    """The Groq client; the SDK's own retries are off, the caller owns the retry policy.

    The key is looked up on every call (Powertools' cache answers it in memory), so a rotated key
    reaches a warm environment within SECRET_MAX_AGE_S, on the same connections.
    """
    global _groq
    settings = get_settings()
    api_key = _secret(settings.groq_api_key, settings.groq_api_key_secret_arn)
    if _groq is None:
        from groq import AsyncGroq

        _groq = AsyncGroq(api_key=api_key or None, base_url=settings.groq_base_url or None, max_retries=0)
    elif api_key and api_key != _groq.api_key:
        _groq = _groq.with_options(api_key=api_key)
    return _groq


async def close_all() -> None:
    """Close every client (tests and local tooling; Lambda never calls this)."""
    global _mongo, _redis, _groq
    if _mongo is not None:
        await _mongo.close()
    if _redis is not None:
        await _redis.aclose()
    if _groq is not None:
        await _groq.close()
    _mongo = _redis = _groq = None
