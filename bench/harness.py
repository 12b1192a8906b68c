"""What the benchmarks share: the stand-in services, the function handlers, events, the settings
that point the functions at them, and the machine and commit a figure was measured on."""

import importlib.util
import json
import os
import platform
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

from redis import Redis
from redis.exceptions import RedisError

from aether_local.events import http_api_event
from aether_local.model_server import ModelServer
from aether_local.mongo_server import start_mongo

ROOT = Path(__file__).resolve().parent.parent
REDIS_URL = "redis://127.0.0.1:6379/14"
MONGO_DB = "aether_bench"
CHAT_PATH = "/api/ai/v4/chat/optimized"
USER = "bench-user"
Handler = Callable[[dict[str, Any], Any], dict[str, Any]]


@contextmanager
def services(redis_url: str = REDIS_URL) -> Iterator[tuple[str, ModelServer]]:
    """The mongoeco wire server (a child process) and the model server; Redis must already run
    (its database in `redis_url` is flushed)."""
    try:
        with Redis.from_url(redis_url, socket_timeout=1) as redis:
            redis.flushdb()
    except (RedisError, OSError) as exc:
        raise SystemExit(f"Redis does not answer at {redis_url}: {exc}") from exc
    with ExitStack() as stack:
        mongo_process, mongo_url = start_mongo()
        stack.callback(mongo_process.wait, 10)
        stack.callback(mongo_process.terminate)
        model_server = ModelServer("bench model").start()
        stack.callback(model_server.stop)
        yield mongo_url, model_server


# Runs in a child interpreter: the stand-in model server until its stdin closes.
_MODEL_SERVER = """
import sys
from aether_local.model_server import ModelServer
server = ModelServer("bench model").start()
print(server.base_url, flush=True)
sys.stdin.read()
server.stop()
"""


@contextmanager
def model_server_process() -> Iterator[tuple[str, int]]:
    """The model server in a process of its own, so its CPU is not counted against the process
    measured: (base_url, pid)."""
    process = subprocess.Popen(
        [sys.executable, "-c", _MODEL_SERVER],
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdin is not None and process.stdout is not None
    try:
        base_url = process.stdout.readline().strip()
        if not base_url.startswith("http://"):
            raise RuntimeError(f"the model server did not start (exit {process.poll()})")
        yield base_url, process.pid
    finally:
        process.stdin.close()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)


def load_handler(path: Path, name: str) -> Handler:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.handler


def chat_event(message: str, path: str = CHAT_PATH, conversation_id: str | None = None) -> dict[str, Any]:
    body: dict[str, str] = {"message": message}
    if conversation_id is not None:
        body["conversation_id"] = conversation_id
    return http_api_event(
        method="POST",
        path=path,
        query="",
        headers={"content-type": "application/json"},
        body=json.dumps(body).encode(),
        route_key=f"POST {path}",
        path_parameters={},
        claims={"sub": USER},
    )


def service_env(mongo_url: str, model_server: ModelServer | str) -> dict[str, str]:
    """The settings that point a function at the stand-ins (the model server, or its base URL)."""
    model_url = model_server if isinstance(model_server, str) else model_server.base_url
    return {
        "MONGO_URL": mongo_url,
        "MONGO_DB": MONGO_DB,
        "REDIS_URL": REDIS_URL,
        "GROQ_API_KEY": "bench-key",
        "GROQ_BASE_URL": model_url,
        "POWERTOOLS_TRACE_DISABLED": "true",
        # Limits no bench reaches, still counted in Redis, so their round trips are in the figures
        "PLANS": json.dumps(
            {"bench": {"requests_per_minute": 10**9, "usd_per_day": 1e6, "usd_per_month": 1e6}}
        ),
        "DEFAULT_PLAN": "bench",
    }


def apply_indexes(env: dict[str, str]) -> None:
    """`aether-local indexes` against the database `env` names."""
    done = subprocess.run(
        [sys.executable, "-m", "aether_local.cli", "indexes"],
        cwd=ROOT,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        raise RuntimeError(f"aether-local indexes failed:\n{done.stderr}")


def machine() -> dict[str, Any]:
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "load_average_1m_at_start": round(os.getloadavg()[0], 2),
    }


def code_version() -> str:
    """The commit measured, marked "+local changes" when layers/ or functions/ differ from it."""

    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True).stdout.strip()

    dirty = git("status", "--porcelain", "--", "layers", "functions")
    return git("rev-parse", "--short", "HEAD") + (" +local changes" if dirty else "")
