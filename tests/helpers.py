"""Helpers the tests share (the fixtures are in conftest.py): paths, services, events and handlers,
the reset of process-wide state, and made router weights."""

import asyncio
import importlib.util
import json
import math
import os
import subprocess
import sys
from collections.abc import Awaitable, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from redis import Redis
from redis.exceptions import RedisError

import aether.cache
import aether.llm.client
import aether.quota
import aether.services.health
import aether.store.outbox
import aether.telemetry
from aether.agents.catalog import AGENTS
from aether.agents.features import FEATURES_VERSION, features
from aether.agents.router import TASKS, Weights
from aether.settings import get_settings
from aether_local import processes
from aether_local.events import http_api_event
from aether_local.lambda_host import LambdaContext
from aether_local.processes import free_port
from aether_local.router_training.train import pack

ROOT = Path(__file__).resolve().parent.parent
PREFIX = "/api/ai/v4"
AETHER_LOCAL = [sys.executable, "-m", "aether_local.cli"]

AGENT_NAMES = list(AGENTS)
THRESHOLDS = {"agent_min_confidence": 0.4, "task_min_confidence": 0.5, "lean_large_at": 0.3}


def _redis_answers(url: str) -> bool:
    try:
        return bool(Redis.from_url(url, socket_timeout=0.5).ping())
    except (RedisError, OSError):
        return False


def start_redis_server(port: int | None = None) -> tuple[subprocess.Popen[str], str]:
    """A throwaway redis-server (aether_local.processes); the test fails if there is none."""
    try:
        return processes.start_redis_server(port)
    except RuntimeError as exc:
        pytest.fail(f"no Redis answers on 127.0.0.1:6379 and {exc}")


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
    response = function(name).handler(evt, LambdaContext(name, 1024, timeout_s))
    body = response.get("body") or "null"
    return response["statusCode"], json.loads(body)


def reset_process() -> None:
    """The settings read again, and what is built from them (the tiered cache, the rate-limit view,
    the quota's and idempotency's Redis tiers) made anew on first use."""
    get_settings.cache_clear()
    aether.cache._cache = None
    aether.llm.client._rate_limits = None
    aether.quota._redis.cache_clear()
    aether.services.health._last = None  # the health checks' last result
    aether.telemetry._pending.clear()  # metrics recorded outside an invocation (a test's own cache calls)


def new_environment() -> None:
    """As a new execution environment starts: reset_process(), and no memory of the usage outbox."""
    reset_process()
    aether.store.outbox._outbox = None


def logits_for(probabilities: dict[str, float], names: list[str]) -> list[float]:
    """Logits whose softmax gives `probabilities` (the rest shared equally)."""
    rest = (1 - sum(probabilities.values())) / (len(names) - len(probabilities))
    return [math.log(probabilities.get(name, rest)) for name in names]


def made_weights(word: str, agents: dict[str, float], tasks: dict[str, float]) -> Weights:
    """Weights that know one word: a message holding it (and nothing else they know) gets exactly
    these probabilities; any other message gets uniform ones."""
    feature = word
    assert feature in features(f"{word} and more")
    wanted = logits_for(agents, AGENT_NAMES) + logits_for(tasks, list(TASKS))
    scale = [max(abs(v), 1e-9) / 100 for v in wanted]
    row = bytes((round(v / s) & 0xFF) for v, s in zip(wanted, scale, strict=True))
    header = {
        "features_version": FEATURES_VERSION,
        "agents": AGENT_NAMES,
        "tasks": list(TASKS),
        "thresholds": THRESHOLDS,
        "scale": scale,
        "word_scale": [1.0] * len(wanted),
        "bias": [0.0] * len(wanted),
    }
    return Weights(pack(header, [feature], row, [], b""))


def run(coro_fn: Callable[[], Awaitable[Any]]) -> Any:
    """Run async test code on its own loop and thread (the handlers own the main thread's loop)."""

    async def main() -> Any:
        return await coro_fn()

    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, main()).result()


def events_of(body: str) -> list[tuple[str, dict]]:
    parsed = []
    for block in body.strip().split("\n\n"):
        lines = dict(line.split(": ", 1) for line in block.splitlines())
        parsed.append((lines["event"], json.loads(lines["data"])))
    return parsed


def local_env(environment: dict[str, str], **changes: str | None) -> dict[str, str]:
    env = {**os.environ, **environment}
    for key, value in changes.items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    return env


@contextmanager
def running_local_api(env: dict[str, str]) -> Iterator[dict[str, str]]:
    """`aether-local serve` on free ports: its URL, stream API URL and dev tokens."""
    port, stream_port = free_port(), free_port()
    process = subprocess.Popen(
        [*AETHER_LOCAL, "serve", "--port", str(port), "--stream-port", str(stream_port)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    info: dict[str, str] = {}
    try:
        for line in process.stdout:
            if line.startswith("Dev token (user):"):
                info["user"] = line.split()[-1]
            elif line.startswith("Dev token (admin):"):
                info["admin"] = line.split()[-1]
            elif line.startswith("Model:"):
                info["model"] = line
            elif line.startswith("Stream API ("):
                info["stream_url"] = line.split()[-1]
            elif line.startswith("Dashboard (open in a browser):"):
                info["dashboard_sign_in"] = line.split()[-1]
            elif line.startswith("Stream API's app"):
                info["stream_app_url"] = line.split()[-1]
            elif line.startswith("Listening on "):
                info["url"] = line.split()[-1]
                break
        assert "url" in info, "aether-local serve did not start"
        yield info
    finally:
        process.terminate()
        process.wait(10)


# A tool, and a call of it, as OpenAI's API gives them (the /v1 tests and the client tests)
WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather of a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}
TOOL_CALL = {
    "id": "call_1",
    "type": "function",
    "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
}
