"""Shared test harness: real MongoDB wire server, real Redis, scripted model server, real handlers.

- MongoDB: the mongoeco wire server in a child process (memory engine, dynamic port), or a real
  MongoDB when MONGO_URL is set.
- Redis: 127.0.0.1:6379 (database 15) when it answers, else a redis-server started on a free port.
- Groq: the real groq SDK against a local OpenAI-compatible server each test scripts.
"""

import os
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from pymongo import MongoClient
from redis import Redis

from aether_local.model_server import ModelServer
from aether_local.mongo_server import start_mongo
from tests.helpers import _redis_answers, reset_process, start_redis_server


@pytest.fixture(scope="session")
def mongo_url() -> Iterator[str]:
    if os.environ.get("MONGO_URL"):
        yield os.environ["MONGO_URL"]
        return
    process, url = start_mongo()
    yield url
    process.terminate()
    process.wait(10)


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    # Database 15 unless AETHER_TEST_REDIS_DB says otherwise (two suites at once must not share one)
    url = f"redis://127.0.0.1:6379/{os.environ.get('AETHER_TEST_REDIS_DB', '15')}"
    if _redis_answers(url):
        yield url
        return
    process, url = start_redis_server()
    yield url
    process.terminate()
    process.wait(10)


@pytest.fixture(scope="session")
def model_server() -> Iterator[ModelServer]:
    server = ModelServer("test model").start()
    yield server
    server.stop()


@pytest.fixture(scope="session", autouse=True)
def environment(mongo_url: str, redis_url: str, model_server: ModelServer) -> Iterator[dict[str, str]]:
    db_name = f"aether_test_{uuid.uuid4().hex[:8]}"
    env = {
        "MONGO_URL": mongo_url,
        "MONGO_DB": db_name,
        "REDIS_URL": redis_url,
        "GROQ_API_KEY": "test-key",
        "GROQ_BASE_URL": model_server.base_url,
        "POWERTOOLS_TRACE_DISABLED": "true",
        "POWERTOOLS_METRICS_NAMESPACE": "Aether",
    }
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    reset_process()
    Redis.from_url(redis_url).flushdb()
    yield env
    MongoClient(mongo_url).drop_database(db_name)
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
    reset_process()


@pytest.fixture(scope="module")
def indexes(environment: dict[str, str]) -> None:
    """The indexes a deployment has (search needs its text index), made as `aether-local indexes` does.

    On a thread of its own: asyncio.run would unset the main thread's loop, which the handlers keep.
    """
    import asyncio
    from concurrent.futures import ThreadPoolExecutor

    from pymongo import AsyncMongoClient

    from aether.store.indexes import apply_indexes

    async def apply() -> None:
        client: AsyncMongoClient = AsyncMongoClient(environment["MONGO_URL"])
        await apply_indexes(client[environment["MONGO_DB"]])
        await client.close()

    with ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, apply()).result()


@pytest.fixture
def settings_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    """Change settings for one test: set variables on the returned monkeypatch, then reset_process()."""
    yield monkeypatch
    monkeypatch.undo()
    reset_process()


@pytest.fixture
def model(model_server: ModelServer, redis_url: str) -> ModelServer:
    """The scripted model, with no rate-limit headroom remembered from an earlier test."""

    model_server.reset()
    reset_process()
    with Redis.from_url(redis_url) as redis:
        for key in redis.scan_iter("aether:ratelimit:*"):
            redis.delete(key)
    return model_server


@pytest.fixture
def db(mongo_url: str, environment: dict[str, str]) -> Any:
    client: MongoClient = MongoClient(mongo_url)
    yield client[environment["MONGO_DB"]]
    client.close()


@pytest.fixture
def redis_sync(redis_url: str) -> Iterator[Redis]:
    client = Redis.from_url(redis_url)
    yield client
    client.close()


@pytest.fixture
def user() -> str:
    return f"user-{uuid.uuid4().hex[:10]}"
