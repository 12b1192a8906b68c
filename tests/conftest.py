"""Shared test harness: real MongoDB wire server, real Redis, scripted model server, real handlers.

- MongoDB: the mongoeco wire server in a child process (memory engine, dynamic port), or a real
  MongoDB when MONGO_URL is set.
- Redis: 127.0.0.1:6379 (database 15) when it answers, else a redis-server started on a free port.
- Groq: the real groq SDK against a local OpenAI-compatible server each test scripts.
"""

import importlib.util
import os
import shutil
import socket
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from pymongo import MongoClient
from redis import Redis
from redis.exceptions import RedisError

from aether.settings import get_settings
from aether_local.events import http_api_event
from aether_local.lambda_host import LambdaContext
from aether_local.model_server import ModelServer
from aether_local.mongo_server import start_mongo

ROOT = Path(__file__).resolve().parent.parent
PREFIX = "/api/ai/v4"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _redis_answers(url: str) -> bool:
    try:
        return bool(Redis.from_url(url, socket_timeout=0.5).ping())
    except (RedisError, OSError):
        return False


def start_redis_server(port: int | None = None) -> tuple[subprocess.Popen[str], str]:
    """A throwaway redis-server (on a free port by default); returns once it accepts connections."""
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.fail("no Redis answers on 127.0.0.1:6379 and redis-server is not installed")
    port = port or free_port()
    process = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    for line in process.stdout:
        if "Ready to accept connections" in line:
            break
    else:
        pytest.fail("redis-server did not start")
    return process, f"redis://127.0.0.1:{port}/0"


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
    get_settings.cache_clear()
    Redis.from_url(redis_url).flushdb()
    yield env
    MongoClient(mongo_url).drop_database(db_name)
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
    get_settings.cache_clear()


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
    """Change settings for one test: set variables on the returned monkeypatch."""
    yield monkeypatch
    monkeypatch.undo()
    get_settings.cache_clear()


@pytest.fixture
def model(model_server: ModelServer, redis_url: str) -> ModelServer:
    """The scripted model, with no rate-limit headroom remembered from an earlier test."""
    import aether.llm.client

    model_server.reset()
    aether.llm.client._rate_limits = None
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


_FUNCTIONS: dict[str, ModuleType] = {}


def function(name: str) -> ModuleType:
    """A function's app module, imported once per test session (a warm execution environment)."""
    if name not in _FUNCTIONS:
        spec = importlib.util.spec_from_file_location(
            f"aether_fn_{name}", ROOT / "functions" / name / "app.py"
        )
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        _FUNCTIONS[name] = module
    return _FUNCTIONS[name]


def event(
    method: str,
    path: str,
    body: Any = None,
    *,
    sub: str | None = "user-1",
    groups: list[str] | None = None,
    query: str = "",
    raw_body: bytes | None = None,
    headers: dict[str, str] | None = None,
) -> dict[str, Any]:
    claims = None
    if sub is not None:
        claims = {"sub": sub}
        if groups:
            claims["cognito:groups"] = f"[{' '.join(groups)}]"
    if raw_body is None:
        import json

        raw_body = b"" if body is None else json.dumps(body).encode()
    return http_api_event(
        method=method,
        path=PREFIX + path,
        query=query,
        headers={"content-type": "application/json", **(headers or {})},
        body=raw_body,
        route_key=f"{method} {PREFIX + path}",
        path_parameters={},
        claims=claims,
    )


def invoke_raw(name: str, evt: dict[str, Any], timeout_s: int = 29) -> dict[str, Any]:
    """Call a function's real Lambda handler; return its response as Lambda would."""
    return function(name).handler(evt, LambdaContext(name, 1024, timeout_s))


def invoke(name: str, evt: dict[str, Any], timeout_s: int = 29) -> tuple[int, Any]:
    """Call a function's real Lambda handler; return status and decoded JSON body."""
    import json

    response = function(name).handler(evt, LambdaContext(name, 1024, timeout_s))
    body = response.get("body") or "null"
    return response["statusCode"], json.loads(body)
