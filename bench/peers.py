"""Per-request overhead of Aether and two peer LLM gateways, side by side with a direct call, in one run.

Last, in the same run and against the same upstream, Aether's chat function as Lambda runs it
(`aether_in_process`: its handler invoked with an API Gateway event, mongoeco in a child process):
CPU per request of the handler's process, latency and its addition over the direct call, also
without the database wait its Server-Timing header reports; a cache miss and an L1 hit.

Targets, all asked the same chat completion through the `openai` Python SDK (sync client for the
sequential and streaming figures, async client for the concurrent ones), all in front of the same
upstream:

- direct: the SDK straight at the upstream (the floor);
- portkey: Portkey's open-source AI gateway, npm `@portkey-ai/gateway` 1.15.2 on Node, started as
  `node build/start-server.js --port=P --headless` (no UI, no log streaming), told where to go by
  the headers `x-portkey-provider: openai` and `x-portkey-custom-host: <upstream>/openai/v1`;
- litellm: the LiteLLM proxy 1.108.7 (`litellm[proxy]`, its own venv), started as
  `litellm --config <yaml> --port P --num_workers 1` with one model (`openai/bench`, `api_base` the
  upstream), a master key (it refuses to start without one), no database, telemetry off, the model
  cost map read from the package (no fetch), logs at ERROR.

Both gateways are installed under .tools/ (gitignored) by bench/setup_peers.sh, never as project
dependencies. The upstream is `aether_local.model_server.ModelServer` (HTTP/1.1 keep-alive, its
default labelled answer with usage; server-sent events when `stream` is true) run in a child
process, so its CPU is not counted against a gateway; each gateway is a child process too.

Method, per target (figures in milliseconds):

- sequential: 30 warm-up requests, then 300 timed ones in 12 blocks of 25, the blocks rotated
  between the targets so drift on a shared machine spreads over all of them. Added latency is a
  gateway's p50/p95/p99 minus the direct call's.
- CPU per proxied request: the gateway process's CPU time (user + system, its live descendants and
  its reaped children included, via psutil) over the timed blocks, divided by the requests.
- concurrent: 16 clients (asyncio tasks sharing one AsyncOpenAI client) for 10 s or 2,000
  requests, whichever comes first: requests/s, p50, p99, and CPU per request under load.
- streaming: `stream=True`, time from the call to the first content delta, 10 warm-up then 100
  timed in rotated blocks of 10; the added p50 is against the direct call's. A target that fails
  its warm-up is reported with its error instead: Portkey 1.15.2 answers every streamed request
  with 500 here (Node 20.20 and 22.21 alike; its log says `TypeError: immutable`: it appends its
  own headers to a Response that shares the upstream fetch response's immutable Headers).
- memory (only with --long): the gateway's RSS (with descendants) before and after 10,000 more
  requests from 16 concurrent clients, sampled every 1,000.

The machine has few cores and other benchmarks may share it, so absolute figures are noisy; the
report records the load average at the start. Results go to bench/results/peers.json and a table
to stdout.

Run from the repository root:  bash bench/setup_peers.sh && .venv/bin/python bench/peers.py
(add --long for the memory figure; --only portkey,litellm to choose the peers).

`measure_gateway(base_url, label, process_pid)` measures one OpenAI-compatible target alone and can
be reused for another one (an in-process target passes `process_pid=None`: no CPU or RSS figure).
"""

import argparse
import asyncio
import json
import os
import secrets
import statistics
import subprocess
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager, redirect_stdout
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import psutil
from harness import (
    CHAT_PATH,
    REDIS_URL,
    chat_event,
    code_version,
    load_handler,
    machine,
    model_server_process,
    service_env,
)
from openai import AsyncOpenAI, OpenAI
from openai.types.chat import ChatCompletionMessageParam

from aether_local.processes import free_port

ROOT = Path(__file__).resolve().parent.parent
TOOLS = ROOT / ".tools"
RESULTS_DIR = ROOT / "bench" / "results"
RESULTS = RESULTS_DIR / "peers.json"
PORTKEY_PACKAGE = TOOLS / "portkey" / "node_modules" / "@portkey-ai" / "gateway"
LITELLM_VENV = TOOLS / "litellm-venv"

MODEL = "bench"
API_KEY = "bench-key"  # pragma: allowlist secret (the stand-in upstream takes any key)
MESSAGES: list[ChatCompletionMessageParam] = [{"role": "user", "content": "Say hello to the benchmark."}]

WARM_UP = 30
BLOCKS = 12
BLOCK_SIZE = 25  # 12 x 25 = 300 timed sequential requests per target
CONCURRENCY = 16
CONCURRENT_SECONDS = 10.0
CONCURRENT_MAX = 2000
STREAM_WARM_UP = 10
STREAM_BLOCKS = 10
STREAM_BLOCK_SIZE = 10  # 100 timed streamed requests per target
LONG_REQUESTS = 10_000
LONG_SAMPLE_EVERY = 1_000
START_TIMEOUT_S = 180.0


@dataclass(frozen=True)
class Target:
    """An OpenAI-compatible endpoint to measure; `pid` is the process whose CPU and RSS count."""

    label: str
    base_url: str  # what the SDK is given: requests go to base_url + "/chat/completions"
    pid: int | None = None
    headers: dict[str, str] = field(default_factory=dict)
    model: str = MODEL
    api_key: str = API_KEY


# --- process figures -----------------------------------------------------------------------------


def _family(pid: int) -> list[psutil.Process]:
    process = psutil.Process(pid)
    return [process, *process.children(recursive=True)]


def _summed(pid: int | None, read: Callable[[psutil.Process], float]) -> float | None:
    """`read` summed over the process and its live descendants (those that ended are skipped)."""
    if pid is None:
        return None
    total = 0.0
    for process in _family(pid):
        try:
            total += read(process)
        except psutil.NoSuchProcess:
            continue
    return total


def _cpu(process: psutil.Process) -> float:
    times = process.cpu_times()
    return times.user + times.system + times.children_user + times.children_system


def cpu_seconds(pid: int | None) -> float | None:
    """User + system CPU of the process, its live descendants and its reaped children."""
    return _summed(pid, _cpu)


def rss_mb(pid: int | None) -> float | None:
    total = _summed(pid, lambda process: process.memory_info().rss)
    return None if total is None else round(total / 2**20, 1)


# --- statistics ----------------------------------------------------------------------------------


def percentile(values: Sequence[float], q: float) -> float:
    """Linear interpolation between the closest ranks; q in [0, 100]."""
    ordered = sorted(values)
    if len(ordered) == 1:
        return ordered[0]
    rank = (len(ordered) - 1) * q / 100
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def summary_ms(seconds: Sequence[float]) -> dict[str, float | int]:
    ms = [s * 1000 for s in seconds]
    return {
        "n": len(ms),
        "p50": round(percentile(ms, 50), 3),
        "p95": round(percentile(ms, 95), 3),
        "p99": round(percentile(ms, 99), 3),
        "mean": round(statistics.fmean(ms), 3),
    }


# --- requests ------------------------------------------------------------------------------------


def sync_client(target: Target) -> OpenAI:
    return OpenAI(
        base_url=target.base_url,
        api_key=target.api_key,
        default_headers=target.headers,
        max_retries=0,
        timeout=30.0,
    )


def async_client(target: Target) -> AsyncOpenAI:
    return AsyncOpenAI(
        base_url=target.base_url,
        api_key=target.api_key,
        default_headers=target.headers,
        max_retries=0,
        timeout=30.0,
    )


def complete(client: OpenAI, target: Target) -> float:
    """One chat completion; its wall time in seconds."""
    started = time.perf_counter()
    completion = client.chat.completions.create(model=target.model, messages=MESSAGES)
    elapsed = time.perf_counter() - started
    if not completion.choices or not completion.choices[0].message.content:
        raise RuntimeError(f"{target.label}: an answer without content: {completion!r}")
    return elapsed


def first_token(client: OpenAI, target: Target) -> float:
    """One streamed chat completion; seconds from the call to the first content delta."""
    started = time.perf_counter()
    stream = client.chat.completions.create(model=target.model, messages=MESSAGES, stream=True)
    elapsed: float | None = None
    with stream:
        for chunk in stream:
            if elapsed is None and chunk.choices and chunk.choices[0].delta.content:
                elapsed = time.perf_counter() - started
    if elapsed is None:
        raise RuntimeError(f"{target.label}: a stream without a content delta")
    return elapsed


# --- measurements --------------------------------------------------------------------------------


def rotated_blocks(
    targets: Sequence[Target],
    call: Callable[[OpenAI, Target], float],
    warm_up: int,
    blocks: int,
    block_size: int,
) -> dict[str, dict[str, Any]]:
    """Warm each target up, then time `blocks` x `block_size` calls per target, the order of the
    targets rotated from block to block; the CPU of each target's process is read around its
    blocks only. A target that fails during its warm-up is left out, with its error."""
    clients = {t.label: sync_client(t) for t in targets}
    failed: dict[str, dict[str, Any]] = {}
    try:
        for target in targets:
            try:
                for _ in range(warm_up):
                    call(clients[target.label], target)
            except Exception as exc:
                failed[target.label] = {"error": f"{type(exc).__name__}: {exc}"[:500]}
        timed = [t for t in targets if t.label not in failed]
        times: dict[str, list[float]] = {t.label: [] for t in timed}
        cpu: dict[str, float] = dict.fromkeys(times, 0.0)
        for block in range(blocks):
            shift = block % len(timed) if timed else 0
            for target in [*timed[shift:], *timed[:shift]]:
                before = cpu_seconds(target.pid)
                times[target.label] += [call(clients[target.label], target) for _ in range(block_size)]
                after = cpu_seconds(target.pid)
                if before is not None and after is not None:
                    cpu[target.label] += after - before
        results = {
            t.label: {
                **summary_ms(times[t.label]),
                "cpu_ms_per_request": (
                    round(cpu[t.label] * 1000 / len(times[t.label]), 3) if t.pid is not None else None
                ),
            }
            for t in timed
        }
        return {t.label: results.get(t.label) or failed[t.label] for t in targets}
    finally:
        for client in clients.values():
            client.close()


async def _run_concurrent(
    client: AsyncOpenAI, target: Target, concurrency: int, seconds: float, max_requests: int
) -> tuple[list[float], float, int]:
    """Latencies, wall time and errors of `concurrency` clients until the time or count is up."""

    async def one() -> float:
        started = time.perf_counter()
        completion = await client.chat.completions.create(model=target.model, messages=MESSAGES)
        if not completion.choices or not completion.choices[0].message.content:
            raise RuntimeError(f"{target.label}: an answer without content")
        return time.perf_counter() - started

    latencies: list[float] = []
    errors = 0
    issued = 0
    started = time.perf_counter()
    deadline = started + seconds

    async def worker() -> None:
        nonlocal issued, errors
        while issued < max_requests and time.perf_counter() < deadline:
            issued += 1
            try:
                latencies.append(await one())
            except Exception:
                errors += 1

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return latencies, time.perf_counter() - started, errors


async def _concurrent(
    target: Target, concurrency: int, seconds: float, max_requests: int
) -> tuple[list[float], float, int]:
    async with async_client(target) as client:
        await _run_concurrent(client, target, concurrency, 60.0, concurrency)  # open the connections
        return await _run_concurrent(client, target, concurrency, seconds, max_requests)


def measure_concurrent(
    target: Target,
    concurrency: int = CONCURRENCY,
    seconds: float = CONCURRENT_SECONDS,
    max_requests: int = CONCURRENT_MAX,
) -> dict[str, Any]:
    before = cpu_seconds(target.pid)
    latencies, wall, errors = asyncio.run(_concurrent(target, concurrency, seconds, max_requests))
    after = cpu_seconds(target.pid)
    figures = summary_ms(latencies)
    return {
        "clients": concurrency,
        "requests": len(latencies),
        "errors": errors,
        "seconds": round(wall, 2),
        "requests_per_s": round(len(latencies) / wall, 1),
        "p50": figures["p50"],
        "p99": figures["p99"],
        "cpu_ms_per_request": (
            round((after - before) * 1000 / len(latencies), 3)
            if before is not None and after is not None and latencies
            else None
        ),
    }


async def _memory(target: Target, requests: int) -> dict[str, Any]:
    start = rss_mb(target.pid)
    samples: list[float | None] = []
    done = 0
    errors = 0
    started = time.perf_counter()
    async with async_client(target) as client:
        while done < requests:
            batch = min(LONG_SAMPLE_EVERY, requests - done)
            latencies, _, batch_errors = await _run_concurrent(client, target, CONCURRENCY, 3600.0, batch)
            done += len(latencies) + batch_errors
            errors += batch_errors
            samples.append(rss_mb(target.pid))
    end = rss_mb(target.pid)
    return {
        "requests": done,
        "errors": errors,
        "seconds": round(time.perf_counter() - started, 1),
        "rss_start_mb": start,
        "rss_end_mb": end,
        "rss_growth_mb": round(end - start, 1) if start is not None and end is not None else None,
        "rss_samples_mb": samples,
    }


def measure_memory(target: Target, requests: int = LONG_REQUESTS) -> dict[str, Any]:
    """RSS before, during (every LONG_SAMPLE_EVERY requests) and after `requests` more requests
    from CONCURRENCY clients."""
    return asyncio.run(_memory(target, requests))


def measure_targets(targets: Sequence[Target], long: bool = False) -> dict[str, dict[str, Any]]:
    """Every figure for every target: sequential and streaming in rotated blocks, then the
    concurrent (and, with `long`, memory) figures one target at a time."""
    results: dict[str, dict[str, Any]] = {
        t.label: {"base_url": t.base_url, "rss_mb_at_start": rss_mb(t.pid)} for t in targets
    }
    sequential = rotated_blocks(targets, complete, WARM_UP, BLOCKS, BLOCK_SIZE)
    streaming = rotated_blocks(targets, first_token, STREAM_WARM_UP, STREAM_BLOCKS, STREAM_BLOCK_SIZE)
    for target in targets:
        seq = sequential[target.label]
        results[target.label]["cpu_ms_per_request"] = seq.pop("cpu_ms_per_request", None)
        results[target.label]["sequential_ms"] = seq
        stream = streaming[target.label]
        stream.pop("cpu_ms_per_request", None)
        results[target.label]["first_token_ms"] = stream
    for target in targets:
        results[target.label]["concurrent"] = measure_concurrent(target)
    if long:
        for target in targets:
            if target.pid is not None:  # no process of its own, no RSS to follow
                results[target.label]["memory"] = measure_memory(target)
    for target in targets:
        results[target.label]["rss_mb_at_end"] = rss_mb(target.pid)
    return results


def measure_gateway(
    base_url: str,
    label: str,
    process_pid: int | None,
    *,
    headers: dict[str, str] | None = None,
    model: str = MODEL,
    long: bool = False,
) -> dict[str, Any]:
    """Every figure for one OpenAI-compatible target measured alone (no rotation partner)."""
    target = Target(label, base_url, process_pid, headers or {}, model)
    return measure_targets([target], long=long)[label]


def added(results: dict[str, dict[str, Any]], floor: str = "direct") -> dict[str, dict[str, float | None]]:
    """Each target's latency percentiles and first-token p50 minus the floor's (None where either
    figure is missing)."""

    def minus(figures: dict[str, Any], base: dict[str, Any], key: str) -> float | None:
        if key not in figures or key not in base:
            return None
        return round(figures[key] - base[key], 3)

    base = results[floor]
    return {
        label: {
            "latency_p50_ms": minus(r["sequential_ms"], base["sequential_ms"], "p50"),
            "latency_p95_ms": minus(r["sequential_ms"], base["sequential_ms"], "p95"),
            "latency_p99_ms": minus(r["sequential_ms"], base["sequential_ms"], "p99"),
            "first_token_p50_ms": minus(r["first_token_ms"], base["first_token_ms"], "p50"),
        }
        for label, r in results.items()
        if label != floor
    }


# --- Aether, in process --------------------------------------------------------------------------


def server_timing(value: str) -> dict[str, float]:
    return {name: float(ms) for name, _, ms in (e.strip().partition(";dur=") for e in value.split(","))}


def aether_in_process(upstream_url: str) -> dict[str, Any]:
    """Aether's chat function as Lambda runs it: its handler invoked with an API Gateway v2 event
    in this process (no HTTP server: API Gateway is the one in front), against the same upstream,
    with mongoeco in a child process and Redis (db 14). Two kinds, in rotated blocks like the
    peers: a cache miss (a new question each time: one model call) and an L1 hit (one question
    again). CPU is this process's (`time.process_time`) around each invocation; the Server-Timing
    header of each answer gives the database (`db`) wait, to take out of the added latency."""
    from redis import Redis

    from aether_local.lambda_host import LambdaContext
    from aether_local.mongo_server import start_mongo

    with Redis.from_url(REDIS_URL) as redis:
        redis.flushdb()
    mongo, mongo_url = start_mongo()
    stack = ExitStack()
    try:
        os.environ.update(service_env(mongo_url, upstream_url))
        os.environ.update(CACHE_SHARED_SCOPE="true", CACHE_VERSION_TTL_MS="3600000")
        handler = load_handler(ROOT / "functions" / "chat" / "app.py", "peers_chat")
        repeated = chat_event(MESSAGES[0]["content"], CHAT_PATH)  # type: ignore[arg-type]
        asked = {
            "miss": lambda: chat_event(f"{MESSAGES[0]['content']} ({secrets.token_hex(8)})", CHAT_PATH),
            "hit": lambda: repeated,
        }
        samples: dict[str, dict[str, list[float]]] = {k: {"wall": [], "cpu": [], "db": []} for k in asked}

        def one(kind: str) -> None:
            event = asked[kind]()
            started, cpu_started = time.perf_counter(), time.process_time()
            answer = handler(event, LambdaContext("bench", 1024, 29))  # a new deadline each
            wall, cpu = time.perf_counter() - started, time.process_time() - cpu_started
            if answer["statusCode"] != 200:
                raise RuntimeError(f"aether {kind}: {answer['statusCode']} {answer['body'][:300]}")
            timing = server_timing(answer["headers"]["server-timing"])
            samples[kind]["wall"].append(wall)
            samples[kind]["cpu"].append(cpu)
            samples[kind]["db"].append(timing.get("db", 0.0) / 1000)

        sink = stack.enter_context(open(os.devnull, "w"))  # noqa: SIM115 (closed by the stack)
        stack.enter_context(redirect_stdout(sink))  # the EMF lines the handler prints, unkept
        for kind in asked:
            for _ in range(WARM_UP):
                one(kind)
        for figures in samples.values():
            for values in figures.values():
                values.clear()
        kinds = list(asked)
        for block in range(BLOCKS):
            for kind in kinds[block % 2 :] + kinds[: block % 2]:
                for _ in range(BLOCK_SIZE):
                    one(kind)
        return {
            kind: {
                "sequential_ms": summary_ms(figures["wall"]),
                "without_db_ms": summary_ms(
                    [w - d for w, d in zip(figures["wall"], figures["db"], strict=True)]
                ),
                "cpu_ms_per_request": round(statistics.fmean(figures["cpu"]) * 1000, 3),
                "cpu_ms_median": round(statistics.median(figures["cpu"]) * 1000, 3),
                "db_ms_p50": round(statistics.median(figures["db"]) * 1000, 3),
            }
            for kind, figures in samples.items()
        }
    finally:
        stack.close()
        mongo.terminate()
        mongo.wait(10)


# --- the processes -------------------------------------------------------------------------------


def _stop(process: subprocess.Popen[Any]) -> None:
    if process.stdin is not None:
        process.stdin.close()
    if process.poll() is None:
        process.terminate()
    try:
        process.wait(10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(10)


@contextmanager
def child(command: list[str], log: Path, env: dict[str, str | None] | None = None) -> Iterator[int]:
    """A gateway process, its output to `log`, `env` added to ours (None: unset); stopped
    (terminate, then kill) on exit."""
    merged: dict[str, str | None] = {**os.environ, **(env or {})}
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    with log.open("w") as out:
        process = subprocess.Popen(
            command,
            cwd=ROOT,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            env={k: v for k, v in merged.items() if v is not None},
            start_new_session=True,
        )
        try:
            yield process.pid
        finally:
            _stop(process)


def wait_ready(target: Target, log: Path, timeout_s: float = START_TIMEOUT_S) -> float:
    """Seconds until the target answers a chat completion."""
    started = time.perf_counter()
    last: Exception | None = None
    with sync_client(target) as client:
        while time.perf_counter() - started < timeout_s:
            if target.pid is not None and not _alive(target.pid):
                break
            try:
                complete(client, target)
                return time.perf_counter() - started
            except Exception as exc:
                last = exc
                time.sleep(0.25)
    tail = log.read_text(errors="replace")[-3000:] if log.exists() else ""
    raise RuntimeError(f"{target.label} did not answer within {timeout_s:.0f} s: {last!r}\n{tail}")


def _alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


@contextmanager
def portkey(upstream_url: str) -> Iterator[Target]:
    if not (PORTKEY_PACKAGE / "build" / "start-server.js").exists():
        raise SystemExit("Portkey's gateway is not installed: bash bench/setup_peers.sh")
    port = free_port()
    log = RESULTS_DIR / "peers-portkey.log"
    command = ["node", str(PORTKEY_PACKAGE / "build" / "start-server.js"), f"--port={port}", "--headless"]
    with child(command, log) as pid:
        target = Target(
            "portkey",
            f"http://127.0.0.1:{port}/v1",
            pid,
            {"x-portkey-provider": "openai", "x-portkey-custom-host": f"{upstream_url}/openai/v1"},
        )
        wait_ready(target, log)
        yield target


LITELLM_CONFIG = """\
model_list:
  - model_name: {model}
    litellm_params:
      model: openai/{model}
      api_base: {api_base}
      api_key: {api_key}
litellm_settings:
  telemetry: false
  drop_params: true
  turn_off_message_logging: true
  request_timeout: 30
general_settings:
  disable_spend_logs: true
  disable_error_logs: true
  disable_reset_budget: true
  allow_requests_on_db_unavailable: true
"""

# No database, no telemetry, no fetch of the model cost map from GitHub, quiet logs.
LITELLM_ENV: dict[str, str | None] = {
    "LITELLM_LOCAL_MODEL_COST_MAP": "True",
    "LITELLM_TELEMETRY": "False",
    "LITELLM_LOG": "ERROR",
    "LITELLM_MODE": "PRODUCTION",
    "DISABLE_ADMIN_UI": "True",
    "NO_DOCS": "True",
    "NO_REDOC": "True",
    "DATABASE_URL": None,  # unset: no database features
    "STORE_MODEL_IN_DB": "False",
}


@contextmanager
def litellm(upstream_url: str) -> Iterator[Target]:
    executable = LITELLM_VENV / "bin" / "litellm"
    if not executable.exists():
        raise SystemExit("LiteLLM is not installed: bash bench/setup_peers.sh")
    port = free_port()
    log = RESULTS_DIR / "peers-litellm.log"
    config = RESULTS_DIR / "peers-litellm.yaml"
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    config.write_text(
        LITELLM_CONFIG.format(model=MODEL, api_base=f"{upstream_url}/openai/v1", api_key=API_KEY)
    )
    command = [
        str(executable),
        "--config",
        str(config),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--num_workers",
        "1",
    ]
    # It refuses to start without a master key; a fresh one per run, checked on every request.
    master_key = f"sk-{secrets.token_hex(32)}"
    env = {**LITELLM_ENV, "LITELLM_MASTER_KEY": master_key, "VIRTUAL_ENV": str(LITELLM_VENV)}
    with child(command, log, env) as pid:
        target = Target("litellm", f"http://127.0.0.1:{port}/v1", pid, api_key=master_key)
        wait_ready(target, log)
        yield target


PEERS: dict[str, Callable[[str], Any]] = {"portkey": portkey, "litellm": litellm}


# --- versions and report -------------------------------------------------------------------------


def versions() -> dict[str, str | None]:
    def run(*command: str) -> str | None:
        try:
            done = subprocess.run(command, capture_output=True, text=True, timeout=60)
        except OSError:
            return None
        return (done.stdout.strip() or None) if done.returncode == 0 else None

    portkey_version = None
    package = PORTKEY_PACKAGE / "package.json"
    if package.exists():
        portkey_version = json.loads(package.read_text())["version"]
    litellm_python = LITELLM_VENV / "bin" / "python"
    return {
        "portkey_gateway": portkey_version,
        "node": run("node", "--version"),
        "litellm": run(
            str(litellm_python), "-c", "import importlib.metadata as m; print(m.version('litellm'))"
        ),
        "litellm_python": run(str(litellm_python), "-c", "import platform; print(platform.python_version())"),
        "openai_sdk": metadata.version("openai"),
    }


def _cell(value: Any, width: int = 8) -> str:
    if value is None:
        return "-".rjust(width)
    if isinstance(value, float):
        return f"{value:{width}.2f}"
    return f"{value!s:>{width}}"


def print_report(report: dict[str, Any]) -> None:
    results = report["targets"]
    extra = report["added"]
    print(f"\nPeer gateways: {report['versions']}")
    print(f"{report['machine']}, {report['seconds']} s\n")
    head = (
        f"{'target':<9}{'p50':>8}{'p95':>8}{'p99':>8}{'+p50':>8}{'+p95':>8}{'+p99':>8}"
        f"{'cpu/req':>9}{'16c rps':>9}{'16c p50':>9}{'16c p99':>9}{'ttft50':>8}{'+ttft50':>8}"
    )
    print("Milliseconds; '+' is added over the direct call; cpu/req is the gateway process's CPU.")
    print(head)
    print("-" * len(head))
    for label, r in results.items():
        seq, conc, more = r["sequential_ms"], r["concurrent"], extra.get(label, {})
        print(
            f"{label:<9}{_cell(seq['p50'])}{_cell(seq['p95'])}{_cell(seq['p99'])}"
            f"{_cell(more.get('latency_p50_ms'))}{_cell(more.get('latency_p95_ms'))}"
            f"{_cell(more.get('latency_p99_ms'))}{_cell(r['cpu_ms_per_request'], 9)}"
            f"{_cell(conc['requests_per_s'], 9)}{_cell(conc['p50'], 9)}{_cell(conc['p99'], 9)}"
            f"{_cell(r['first_token_ms'].get('p50'))}{_cell(more.get('first_token_p50_ms'))}"
        )
    for label, r in results.items():
        for phase in ("sequential_ms", "first_token_ms"):
            if "error" in r[phase]:
                print(f"{label}: {phase} not measured: {r[phase]['error']}")
    print(f"\nAether in process (code {report['code']}), the chat handler as Lambda invokes it:")
    print(
        f"{'kind':<9}{'p50':>8}{'p95':>8}{'p99':>8}{'+p50':>8}{'+p95':>8}{'+p99':>8}{'cpu/req':>9}"
        f"{'cpu p50':>9}{'db p50':>8}{'+p50-db':>9}{'+p99-db':>9}"
    )
    for kind, a in report["aether"].items():
        seq, more, bare = a["sequential_ms"], a["added_sequential_ms"], a["added_without_db_ms"]
        print(
            f"{kind:<9}{_cell(seq['p50'])}{_cell(seq['p95'])}{_cell(seq['p99'])}{_cell(more['p50'])}"
            f"{_cell(more['p95'])}{_cell(more['p99'])}{_cell(a['cpu_ms_per_request'], 9)}"
            f"{_cell(a['cpu_ms_median'], 9)}{_cell(a['db_ms_p50'])}"
            f"{_cell(bare['p50'], 9)}{_cell(bare['p99'], 9)}"
        )
    memory = {label: r["memory"] for label, r in results.items() if "memory" in r}
    if memory:
        print(f"\nRSS over {LONG_REQUESTS:,} more requests (16 clients), MB:")
        for label, m in memory.items():
            print(
                f"{label:<9} start {m['rss_start_mb']}  end {m['rss_end_mb']}  growth {m['rss_growth_mb']}"
                f"  samples {m['rss_samples_mb']}"
            )
    print(f"\nWritten to {RESULTS.relative_to(ROOT)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--long", action="store_true", help="also RSS growth over 10,000 requests")
    parser.add_argument("--only", default=",".join(PEERS), help="peers to measure, comma-separated")
    args = parser.parse_args()
    chosen = [name.strip() for name in args.only.split(",") if name.strip()]
    unknown = sorted(set(chosen) - set(PEERS))
    if unknown:
        parser.error(f"unknown peers: {', '.join(unknown)}")

    started = time.perf_counter()
    report: dict[str, Any] = {"machine": machine(), "code": code_version(), "versions": versions()}
    with ExitStack() as stack:
        upstream_url, upstream_pid = stack.enter_context(model_server_process())
        targets = [Target("direct", f"{upstream_url}/openai/v1")]
        for name in chosen:
            peer_started = time.perf_counter()
            targets.append(stack.enter_context(PEERS[name](upstream_url)))
            report.setdefault("startup_s", {})[name] = round(time.perf_counter() - peer_started, 1)
        upstream_cpu = cpu_seconds(upstream_pid)
        report["targets"] = measure_targets(targets, long=args.long)
        report["upstream_cpu_s"] = round((cpu_seconds(upstream_pid) or 0) - (upstream_cpu or 0), 2)
        report["aether"] = aether_in_process(upstream_url)
    report["added"] = added(report["targets"])
    direct = report["targets"]["direct"]["sequential_ms"]
    for figures in report["aether"].values():
        for key in ("sequential_ms", "without_db_ms"):
            figures[f"added_{key}"] = {
                p: round(figures[key][p] - direct[p], 3) for p in ("p50", "p95", "p99")
            }
    report["method"] = {
        "sequential": f"{WARM_UP} warm-up, {BLOCKS} x {BLOCK_SIZE} timed, blocks rotated between targets",
        "streaming": f"{STREAM_WARM_UP} warm-up, {STREAM_BLOCKS} x {STREAM_BLOCK_SIZE} timed, rotated",
        "concurrent": f"{CONCURRENCY} clients, {CONCURRENT_SECONDS:.0f} s or {CONCURRENT_MAX} requests",
        "memory": f"{LONG_REQUESTS} requests, {CONCURRENCY} clients" if args.long else "not run",
        "client": "openai SDK (sync for sequential and streaming, async for concurrent), max_retries=0",
    }
    report["seconds"] = round(time.perf_counter() - started, 1)
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=2) + "\n")
    print_report(report)


if __name__ == "__main__":
    main()
