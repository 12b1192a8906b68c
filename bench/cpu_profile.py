"""Where a chat request's CPU goes (issue 15): CPU per request and the top functions by own time.

The chat function's handler runs in this process; the mongoeco wire server, the model server and
Redis each run in a process of their own, so the CPU counted here is the handler's alone (its
client libraries included). Three kinds, each warmed up first:

- bare: the FastAPI + Mangum echo (bench/bare_app.py), the floor;
- miss: `chat/optimized`, a new conversation with a new question each time (one model call);
- hit: the same question again, answered from L1 (the shared-scope memory tier).

For each kind: CPU time of this process per request (`time.process_time`, every thread),
median over PER_KIND requests, and its ratio to the bare echo; then one cProfile run of PROFILED
requests, timed by the thread's CPU clock (waits for the network do not count), with the top TOP
functions by own time (tottime, per request) and the project's functions by cumulative time.
`--pstats DIR` keeps the raw profiles for `python -m pstats` or snakeviz.

With `--memory N`, then N more requests (misses and hits by turns) and the process's RSS before,
during and after (the issue-15 target is at most 5 MB over 10,000).

Run: .venv/bin/python bench/cpu_profile.py (about 40 s; `--memory 10000` adds about 5 minutes).
Needs Redis on 127.0.0.1:6379 (db 14 is flushed). Figures go to bench/results/cpu_profile.json.
"""

import argparse
import cProfile
import json
import os
import pstats
import statistics
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager, redirect_stdout
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))

from harness import (  # noqa: E402
    CHAT_PATH,
    REDIS_URL,
    Handler,
    chat_event,
    code_version,
    load_handler,
    machine,
    model_server_process,
    service_env,
)
from redis import Redis  # noqa: E402

from aether_local.lambda_host import LambdaContext  # noqa: E402
from aether_local.mongo_server import start_mongo  # noqa: E402

RESULTS = ROOT / "bench" / "results" / "cpu_profile.json"
WARM_UP = 50
PER_KIND = 300
PROFILED = 200
TOP = 25


@contextmanager
def own_services() -> Iterator[dict[str, str]]:
    """mongoeco and the model server, each a child process; the settings that point at them."""
    with Redis.from_url(REDIS_URL) as redis:
        redis.flushdb()
    with ExitStack() as stack:
        mongo, mongo_url = start_mongo()
        stack.callback(mongo.wait, 10)
        stack.callback(mongo.terminate)
        base_url, _ = stack.enter_context(model_server_process())
        yield {
            **service_env(mongo_url, base_url),
            # a question without history is kept in L1 and its version trusted for the run
            "CACHE_SHARED_SCOPE": "true",
            "CACHE_VERSION_TTL_MS": "3600000",
        }


def kinds(bare: Handler, chat: Handler) -> dict[str, Callable[[], dict[str, Any]]]:
    repeated = chat_event("What is a Lambda layer?", CHAT_PATH)

    def context() -> LambdaContext:  # its deadline counts from its creation, as on Lambda
        return LambdaContext("bench", 1024, 29)

    def echo() -> dict[str, Any]:
        return bare(repeated, context())

    def miss() -> dict[str, Any]:
        return chat(chat_event(f"What is a Lambda layer? ({uuid.uuid4().hex})", CHAT_PATH), context())

    def hit() -> dict[str, Any]:
        return chat(repeated, context())

    return {"bare": echo, "miss": miss, "hit": hit}


def cpu_ms(call: Callable[[], dict[str, Any]], n: int) -> list[float]:
    samples = []
    for _ in range(n):
        started = time.process_time()
        answer = call()
        samples.append((time.process_time() - started) * 1000)
        assert answer["statusCode"] == 200, answer
    return samples


def top_functions(profile: cProfile.Profile, requests: int) -> list[dict[str, Any]]:
    stats = pstats.Stats(profile)
    rows = []
    for (filename, line, name), (_, calls, own, total, _) in stats.stats.items():  # type: ignore[attr-defined]
        where = filename
        for marker in ("site-packages/", "/layers/", "/lib/python3.13/"):
            if marker in filename:
                where = filename.split(marker, 1)[1]
                break
        rows.append(
            {
                "function": f"{where}:{line}({name})",
                "calls_per_request": round(calls / requests, 2),
                "own_us_per_request": round(own / requests * 1e6, 1),
                "cumulative_us_per_request": round(total / requests * 1e6, 1),
            }
        )
    rows.sort(key=lambda row: row["own_us_per_request"], reverse=True)
    return rows[:TOP]


def project_functions(profile: cProfile.Profile, requests: int) -> list[dict[str, Any]]:
    """The project's own functions by cumulative CPU: which step of a request costs what."""
    stats = pstats.Stats(profile)
    rows = []
    for (filename, line, name), (_, calls, _, total, _) in stats.stats.items():  # type: ignore[attr-defined]
        if "/layers/common/aether/" not in filename:
            continue
        rows.append(
            {
                "function": f"{filename.split('/layers/common/', 1)[1]}:{line}({name})",
                "calls_per_request": round(calls / requests, 2),
                "cumulative_us_per_request": round(total / requests * 1e6, 1),
            }
        )
    rows.sort(key=lambda row: row["cumulative_us_per_request"], reverse=True)
    return rows[:TOP]


def rss_growth(
    miss: Callable[[], dict[str, Any]], hit: Callable[[], dict[str, Any]], n: int
) -> dict[str, Any]:
    """This process's RSS over `n` more requests, half misses (each a new question, filling the
    bounded memory tiers) and half hits, sampled every tenth of the way. mongoeco slows down as
    its collections grow, so they are emptied at each sample (by a client of the bench's own:
    the handler's process does the same work either way)."""
    import psutil
    from pymongo import MongoClient

    process = psutil.Process()
    samples = [round(process.memory_info().rss / 2**20, 1)]
    with MongoClient(os.environ["MONGO_URL"]) as mongo:
        db = mongo[os.environ["MONGO_DB"]]
        for i in range(n):
            (miss if i % 2 else hit)()
            if (i + 1) % max(1, n // 10) == 0:
                samples.append(round(process.memory_info().rss / 2**20, 1))
                for name in ("conversations", "messages", "usage"):
                    db[name].delete_many({})
    return {"requests": n, "rss_mb": samples, "growth_mb": round(samples[-1] - samples[0], 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pstats", type=Path, help="keep each kind's raw profile in this directory")
    parser.add_argument(
        "--memory",
        type=int,
        default=0,
        metavar="N",
        help="then N more requests (misses and hits by turns): RSS",
    )
    args = parser.parse_args()
    report: dict[str, Any] = {"machine": machine(), "code": code_version(), "kinds": {}}
    # the EMF lines a handler prints go where Lambda's would go unkept: not into this process's memory
    with own_services() as env, open(os.devnull, "w") as sink, redirect_stdout(sink):
        os.environ.update(env)
        bare = load_handler(ROOT / "bench" / "bare_app.py", "bench_bare")
        chat = load_handler(ROOT / "functions" / "chat" / "app.py", "bench_chat")
        calls = kinds(bare, chat)
        for call in calls.values():
            cpu_ms(call, WARM_UP)
        samples: dict[str, list[float]] = {name: [] for name in calls}
        for _ in range(PER_KIND // 50):  # rotate kinds in blocks so drift spreads evenly
            for name, call in calls.items():
                samples[name] += cpu_ms(call, 50)
        profiles = {}
        for name, call in calls.items():
            profile = cProfile.Profile(time.thread_time)  # CPU, not waits (the handler's thread)
            profile.enable()
            for _ in range(PROFILED):
                answer = call()
                assert answer["statusCode"] == 200, answer
            profile.disable()
            profiles[name] = profile
        if args.memory:
            report["memory"] = rss_growth(calls["miss"], calls["hit"], args.memory)
    floor = statistics.median(samples["bare"])
    for name, values in samples.items():
        median = statistics.median(values)
        report["kinds"][name] = {
            "cpu_ms_median": round(median, 3),
            "cpu_ms_p95": round(statistics.quantiles(values, n=20)[-1], 3),
            "ratio_to_bare": round(median / floor, 2),
            "top": top_functions(profiles[name], PROFILED),
            "project": project_functions(profiles[name], PROFILED),
        }
        if args.pstats:
            args.pstats.mkdir(parents=True, exist_ok=True)
            profiles[name].dump_stats(args.pstats / f"{name}.pstats")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=2))
    print(f"code {report['code']}; CPU per request in this process (ms, median of {PER_KIND})")
    for name, kind in report["kinds"].items():
        print(
            f"\n{name}: {kind['cpu_ms_median']} ms (p95 {kind['cpu_ms_p95']}), {kind['ratio_to_bare']}x bare"
        )
        print(f"  {'own µs':>8} {'cum µs':>8} {'calls':>6}  function (per request, under cProfile)")
        for row in kind["top"]:
            print(
                f"  {row['own_us_per_request']:8.1f} {row['cumulative_us_per_request']:8.1f}"
                f" {row['calls_per_request']:6.2f}  {row['function']}"
            )
        print(f"  {'':>8} {'cum µs':>8} {'calls':>6}  the project's functions")
        for row in kind["project"]:
            cumulative, calls = row["cumulative_us_per_request"], row["calls_per_request"]
            print(f"  {'':>8} {cumulative:8.1f} {calls:6.2f}  {row['function']}")
    if "memory" in report:
        memory = report["memory"]
        print(f"\nRSS over {memory['requests']:,} more requests: {memory['rss_mb']} MB")
        print(f"growth {memory['growth_mb']} MB")
    print(f"\nwritten to {RESULTS.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
