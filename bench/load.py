"""Load: 200 virtual users on a mixed workload for 60 s against `aether-local serve` (issue 7).

The script starts the mongoeco wire server (memory engine), the scripted model server as Groq
(each answer after 50-300 ms; a streamed answer also pauses before each chunk) and
`aether-local serve --dev-users 200`, so every virtual user has its own identity. Each virtual
user loops for DURATION_S: it picks an action by weight (MIX), sends it, waits for the answer,
then thinks for THINK_S. Requests sent before the end are awaited (at most DRAIN_S). The local
runner runs each function in up to `--environments` (4) processes of one request at a time, as
Lambda environments do, so requests beyond that queue there: the latencies below include that
queue. The stream API fronts one uvicorn process serving its requests concurrently.

Report: requests, status counts, p50/p95 per route and overall, throughput, and the resident
memory of the serve process and its children (function workers, the stream API's app) at
start, after one warm-up request per route (the cold starts) and after the load. Exits with 1
on any 5xx, transport error or streamed `error` event.

Run: .venv/bin/python bench/load.py (about 2 minutes). Needs Redis on 127.0.0.1:6379; uses and
flushes database 11. Figures also go to bench/results/load.json, the server's logs to
bench/results/load-serve.log.
"""

import asyncio
import json
import os
import random
import subprocess
import sys
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))

from harness import apply_indexes, code_version, machine, service_env, services  # noqa: E402

from aether_local.model_server import Reply  # noqa: E402
from aether_local.processes import free_port  # noqa: E402

USERS = 200
DURATION_S = 60.0
THINK_S = (1.0, 3.0)  # a user reads the answer before the next request
RAMP_S = 3.0  # users start at random moments within this
DRAIN_S = 180.0  # longest wait for the requests still queued at the end
MODEL_DELAY_S = (0.05, 0.30)  # the model's time to answer, uniform
CHUNK_DELAY_S = 0.01  # a streamed answer: pause before each of its ANSWER_WORDS chunks
ANSWER_WORDS = 30
REDIS_URL = "redis://127.0.0.1:6379/11"
MONGO_DB = "aether_load"
RESULTS = ROOT / "bench" / "results" / "load.json"
SERVER_LOG = ROOT / "bench" / "results" / "load-serve.log"
API = "/api/ai/v4"

PROMPTS = (
    "How do I add pagination to a FastAPI endpoint?",
    "Write a short poem about the sea at night",
    "Summarise the causes of the 2008 financial crisis",
    "How should I test a function that calls datetime.now()?",
    "Plan a three-day study schedule for linear algebra",
    "Why does my Python list comprehension raise a NameError?",
    "Compare PostgreSQL and MongoDB for an analytics workload",
    "Suggest names for a coffee shop near a library",
)
SEARCH_WORDS = ("pagination", "poem", "crisis", "schedule", "PostgreSQL")


@dataclass
class User:
    token: str
    rng: random.Random
    asked: list[str] = field(default_factory=list)  # new-chat messages, to repeat (cache hits)
    conversations: list[str] = field(default_factory=list)


@dataclass
class Api:
    url: str
    stream_url: str
    tokens: list[str]
    admin_token: str
    pid: int


@dataclass(frozen=True)
class Sample:
    route: str
    status: str  # the HTTP status, or the transport error's name
    seconds: float
    ended: float  # seconds since the load started
    cached: bool = False


# ---------------------------------------------------------------------------------------------
# Services and the server under load


def model_reply(rng: random.Random) -> Callable[[dict[str, Any]], Reply]:
    answer = " ".join(f"word{i}" for i in range(ANSWER_WORDS))

    def reply(body: dict[str, Any]) -> Reply:  # called under the model server's lock
        delay = rng.uniform(*MODEL_DELAY_S)
        return Reply(content=answer, delay_s=delay, chunk_delay_s=CHUNK_DELAY_S if body.get("stream") else 0)

    return reply


@contextmanager
def load_services() -> Iterator[dict[str, str]]:
    """mongoeco and the scripted model (bench/run.py's pair, on Redis database 11); the environment."""
    with services(REDIS_URL) as (mongo_url, model_server):
        model_server.responder = model_reply(random.Random(7))
        env = {**service_env(mongo_url, model_server), "REDIS_URL": REDIS_URL, "MONGO_DB": MONGO_DB}
        apply_indexes(env)
        yield env


@contextmanager
def local_api(env: dict[str, str], users: int, log_path: Path, environments: int = 4) -> Iterator[Api]:
    """`aether-local serve` on free ports with `users` dev users and at most `environments` per
    function; its own logs go to `log_path`."""
    port, stream_port = free_port(), free_port()
    command = [sys.executable, "-m", "aether_local.cli", "serve", "--port", str(port)]
    command += ["--stream-port", str(stream_port), "--dev-users", str(users)]
    command += ["--environments", str(environments)]
    log_path.parent.mkdir(parents=True, exist_ok=True)
    log = log_path.open("w")  # the functions' logs and EMF lines: where a 5xx is explained
    process = subprocess.Popen(
        command, cwd=ROOT, env={**os.environ, **env}, stdout=subprocess.PIPE, stderr=log, text=True
    )
    assert process.stdout is not None
    url = stream_url = admin_token = ""
    tokens: list[str] = []
    try:
        for line in process.stdout:
            if line.startswith("Dev token (user-"):
                tokens.append(line.split()[-1])
            elif line.startswith("Dev token (admin):"):
                admin_token = line.split()[-1]
            elif line.startswith("Stream API ("):
                stream_url = line.split()[-1]
            elif line.startswith("Listening on "):
                url = line.split()[-1]
                break
        if len(tokens) != users or not stream_url:
            raise RuntimeError("aether-local serve did not print its URLs and dev tokens")
        yield Api(url, stream_url, tokens, admin_token, process.pid)
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:  # requests still queued in its environments
            process.kill()
            process.wait(10)
        log.close()


def memory(pid: int) -> dict[str, float]:
    """Resident MiB of the serve process and each of its children, by role."""
    parent = psutil.Process(pid)
    result: dict[str, float] = {}
    for process in (parent, *parent.children(recursive=True)):
        try:
            command, rss = process.cmdline(), process.memory_info().rss
        except psutil.NoSuchProcess:
            continue
        if "aether_local.worker" in command:
            name = f"function {command[command.index('aether_local.worker') + 3]}"
        elif "uvicorn" in command:
            name = "stream API app (chat, uvicorn)"
        elif process.pid == pid:
            name = "aether-local serve"
        else:
            name = Path(command[0]).name if command else str(process.pid)
        result[name] = round(result.get(name, 0.0) + rss / 2**20, 1)
    result["total"] = round(sum(result.values()), 1)
    return result


# ---------------------------------------------------------------------------------------------
# The workload: each action sends one request and returns (route, status, answered from cache)

Action = Callable[[httpx.AsyncClient, Api, User], Awaitable[tuple[str, int, bool]]]


def headers(user: User) -> dict[str, str]:
    return {"authorization": f"Bearer {user.token}"}


async def post_chat(
    client: httpx.AsyncClient, api: Api, user: User, route: str, body: dict[str, Any]
) -> tuple[str, int, bool]:
    response = await client.post(f"{api.url}{API}/chat/optimized", json=body, headers=headers(user))
    answer = response.json() if response.status_code == 200 else {}
    if answer.get("conversation_id") and "conversation_id" not in body:
        user.conversations.append(answer["conversation_id"])
    return route, response.status_code, bool(answer.get("cached"))


async def new_chat(client: httpx.AsyncClient, api: Api, user: User) -> tuple[str, int, bool]:
    message = f"{user.rng.choice(PROMPTS)} (ref {uuid.uuid4().hex[:8]})"
    user.asked.append(message)
    return await post_chat(client, api, user, "POST chat/optimized, new", {"message": message})


async def follow_up(client: httpx.AsyncClient, api: Api, user: User) -> tuple[str, int, bool]:
    if not user.conversations:
        return await new_chat(client, api, user)
    body = {"message": f"Tell me more ({uuid.uuid4().hex[:8]})", "conversation_id": user.conversations[-1]}
    return await post_chat(client, api, user, "POST chat/optimized, follow-up", body)


async def repeat(client: httpx.AsyncClient, api: Api, user: User) -> tuple[str, int, bool]:
    if not user.asked:
        return await new_chat(client, api, user)
    body = {"message": user.rng.choice(user.asked)}
    return await post_chat(client, api, user, "POST chat/optimized, repeat", body)


async def quick(client: httpx.AsyncClient, api: Api, user: User) -> tuple[str, int, bool]:
    body = {"message": f"Define idempotency in one line ({uuid.uuid4().hex[:8]})"}
    response = await client.post(f"{api.url}{API}/chat/quick", json=body, headers=headers(user))
    return "POST chat/quick", response.status_code, False


async def multi_agent(client: httpx.AsyncClient, api: Api, user: User) -> tuple[str, int, bool]:
    body = {"message": f"{user.rng.choice(PROMPTS)} ({uuid.uuid4().hex[:8]})"}
    response = await client.post(f"{api.url}{API}/chat/multi-agent", json=body, headers=headers(user))
    return "POST chat/multi-agent", response.status_code, False


async def stream(client: httpx.AsyncClient, api: Api, user: User) -> tuple[str, int, bool]:
    """On the stream API; the whole stream is read. A streamed `error` event counts as status 599."""
    body = {"message": f"{user.rng.choice(PROMPTS)} ({uuid.uuid4().hex[:8]})"}
    url = f"{api.stream_url}{API}/chat/stream"
    async with client.stream("POST", url, json=body, headers=headers(user)) as response:
        text = (await response.aread()).decode()
    status = 599 if response.status_code == 200 and "event: error" in text else response.status_code
    return "POST chat/stream (stream API)", status, False


def getter(route: str, path: str) -> Action:
    async def get(client: httpx.AsyncClient, api: Api, user: User) -> tuple[str, int, bool]:
        query = path.replace("{word}", user.rng.choice(SEARCH_WORDS))
        response = await client.get(f"{api.url}{API}{query}", headers=headers(user))
        return route, response.status_code, False

    get.__name__ = route  # names the route when the request fails before an answer
    return get


MIX: tuple[tuple[Action, int], ...] = (  # weights in percent
    (new_chat, 20),
    (follow_up, 15),
    (repeat, 15),
    (quick, 10),
    (getter("GET agents", "/agents"), 10),
    (getter("GET conversations", "/conversations?limit=20"), 8),
    (getter("GET conversations/search", "/conversations/search?q={word}"), 7),
    (getter("GET analytics/user", "/analytics/user?days=7"), 5),
    (multi_agent, 3),
    (stream, 7),
)


async def virtual_user(
    client: httpx.AsyncClient, api: Api, user: User, t0: float, samples: list[Sample]
) -> None:
    actions, weights = zip(*MIX, strict=True)
    await asyncio.sleep(user.rng.uniform(0, RAMP_S))
    while time.monotonic() - t0 < DURATION_S:
        action = user.rng.choices(actions, weights)[0]
        started = time.monotonic()
        try:
            route, status, cached = await action(client, api, user)
            outcome = str(status)
        except httpx.HTTPError as error:
            route, outcome, cached = action.__name__, type(error).__name__, False
        ended = time.monotonic()
        samples.append(Sample(route, outcome, ended - started, ended - t0, cached))
        remaining = DURATION_S - (time.monotonic() - t0)
        await asyncio.sleep(min(user.rng.uniform(*THINK_S), max(0.0, remaining)))


async def warm_up(client: httpx.AsyncClient, api: Api) -> None:
    """One request per route: each function process starts (its cold start) before the load."""
    user = User(api.tokens[0], random.Random(0))
    for action, _ in MIX:
        route, status, _ = await action(client, api, user)
        if status != 200:
            raise RuntimeError(f"warm-up {route} answered {status}")


async def in_function(client: httpx.AsyncClient, api: Api) -> dict[str, Any]:
    """The app's own figures for the run (its live minutes in Redis, read by the dashboard route):
    time inside each function per route, without the runner's queue; database p95; cache hits."""
    response = await client.get(
        f"{api.url}{API}/performance/dashboard?window=5",
        headers={"authorization": f"Bearer {api.admin_token}"},
    )
    response.raise_for_status()
    view = response.json()
    routes = {
        route: {"requests": row["count"], "p50_ms": row["p50_ms"], "p95_ms": row["p95_ms"]}
        for route, row in sorted(view["routes"].items())
    }
    return {"routes": routes, "database_p95_ms": view["database"]["p95_ms"], "cache": view["cache"]}


async def run_load(
    api: Api, memory_mib: dict[str, dict[str, float]]
) -> tuple[list[Sample], float, dict[str, Any]]:
    """Warm-up, memory, the virtual users, the app's own figures; the samples and the seconds from
    the start to the last answer."""
    limits = httpx.Limits(max_connections=2 * USERS, max_keepalive_connections=2 * USERS)
    async with httpx.AsyncClient(timeout=DRAIN_S, limits=limits) as client:
        await warm_up(client, api)
        memory_mib["after warm-up"] = memory(api.pid)
        samples: list[Sample] = []
        users = [User(token, random.Random(number)) for number, token in enumerate(api.tokens)]
        t0 = time.monotonic()
        tasks = [virtual_user(client, api, user, t0, samples) for user in users]
        await asyncio.wait_for(asyncio.gather(*tasks), DURATION_S + DRAIN_S)
        elapsed = time.monotonic() - t0
        memory_mib["after the load"] = memory(api.pid)  # before the dashboard function starts
        return samples, elapsed, await in_function(client, api)


# ---------------------------------------------------------------------------------------------
# Report


def percentile(ordered: list[float], share: float) -> float:
    """Nearest rank."""
    return ordered[max(0, min(len(ordered) - 1, round(share * len(ordered) + 0.5) - 1))]


def figures(samples: list[Sample]) -> dict[str, Any]:
    ordered = sorted(s.seconds for s in samples)
    return {
        "requests": len(samples),
        "statuses": dict(sorted(Counter(s.status for s in samples).items())),
        "p50_ms": round(percentile(ordered, 0.50) * 1000, 1),
        "p95_ms": round(percentile(ordered, 0.95) * 1000, 1),
        "max_ms": round(ordered[-1] * 1000, 1),
        "cached": sum(s.cached for s in samples),
    }


def report(
    samples: list[Sample], elapsed_s: float, memory_mib: dict[str, dict[str, float]], app: dict[str, Any]
) -> dict[str, Any]:
    by_route: dict[str, list[Sample]] = defaultdict(list)
    for sample in samples:
        by_route[sample.route].append(sample)
    in_window = sum(s.ended <= DURATION_S for s in samples)
    return {
        "machine": machine(),
        "code": code_version(),
        "users": USERS,
        "duration_s": DURATION_S,
        "elapsed_s": round(elapsed_s, 1),
        "routes": {route: figures(rows) for route, rows in sorted(by_route.items())},
        "overall": figures(samples),
        "throughput_rps": round(len(samples) / elapsed_s, 1),
        "throughput_in_window_rps": round(in_window / DURATION_S, 1),
        "server_errors": sum(not s.status.isdigit() or int(s.status) >= 500 for s in samples),
        "memory_mib": memory_mib,
        "in_function": app,
    }


def print_report(result: dict[str, Any]) -> None:
    print(f"\nLoad at {result['code']}: {result['users']} users for {result['duration_s']:.0f} s")
    print(f"  machine: {result['machine']}")
    print(f"  {'route':<34} {'n':>5} {'p50 ms':>9} {'p95 ms':>9} {'max ms':>9}  statuses")
    for route, row in (*result["routes"].items(), ("overall", result["overall"])):
        statuses = ", ".join(f"{k}: {v}" for k, v in row["statuses"].items())
        cached = f"; cached {row['cached']}" if row["cached"] else ""
        print(
            f"  {route:<34} {row['requests']:>5} {row['p50_ms']:>9.1f} {row['p95_ms']:>9.1f}"
            f" {row['max_ms']:>9.1f}  {statuses}{cached}"
        )
    print(
        f"  throughput: {result['throughput_rps']} requests/s over {result['elapsed_s']} s "
        f"(sent until {result['duration_s']:.0f} s, then drained); "
        f"{result['throughput_in_window_rps']} requests/s completed within the {result['duration_s']:.0f} s"
    )
    print(f"  5xx and transport errors: {result['server_errors']}")
    app = result["in_function"]
    print("  inside the functions (the app's telemetry; no queue; includes the warm-up requests):")
    for route, row in app["routes"].items():
        print(f"    {route:<32} {row['requests']:>5} {row['p50_ms']:>9} {row['p95_ms']:>9}")
    cache = app["cache"]
    print(
        f"    database p95 {app['database_p95_ms']} ms; cache hits {cache['hits']}, misses {cache['misses']}"
    )
    print("  resident memory, MiB (the serve process and its children):")
    for moment, rows in result["memory_mib"].items():
        print(f"    {moment:<14} " + ", ".join(f"{name} {mib}" for name, mib in rows.items()))


def main() -> None:
    with load_services() as env, local_api(env, USERS, SERVER_LOG) as api:
        memory_mib = {"at start": memory(api.pid)}
        samples, elapsed, app = asyncio.run(run_load(api, memory_mib))
    result = report(samples, elapsed, memory_mib, app)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print_report(result)
    print(f"\nwritten to {RESULTS.relative_to(ROOT)}")
    if result["server_errors"]:
        sys.exit(1)


if __name__ == "__main__":
    main()
