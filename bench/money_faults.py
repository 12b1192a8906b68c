"""Money under faults (issue 14): budgets, idempotency and charges while Redis misbehaves.

Every environment is a process of its own. A Lambda environment of the chat function is
aether_local's FunctionHost (one request at a time, as on Lambda); where concurrency inside one
process is the point (a client-side Redis pool that runs out, one Idempotency-Key sent 20 times
at once, a client that leaves a stream), a copy of the chat app as the Web Adapter runs it (uvicorn,
as `aether-local serve` runs it). They share a redis-server of the bench's own (so it can be
paused, restarted empty or run out of connections), the mongoeco wire server and the scripted
model server, which answers each call after MODEL_DELAY_S with fixed usage.

1. Budgets. For each fault a new user on a plan of BUDGET_USD a day sends 300 /chat/quick
   requests through three environments, 100 each: PHASES[0] each with Redis healthy, PHASES[1]
   under the fault, PHASES[2] after it, then (once REDIS_RETRY_AFTER_S has passed) one more each,
   one environment after the other, so that nothing is in flight. Faults: Redis paused (SIGSTOP:
   every command times out), restarted empty (killed, down RESTART_DOWN_S, started empty on the
   same port), out of connections (maxclients reached: every connection dropped, new ones
   refused), and a client pool that runs out (three streamed-app processes, 100 requests at once
   each, with each of POOLS). Reported: answers, 429s, 503s, other 5xx, model calls; spend
   (MongoDB's usage records) past the budget, also in worst cases (the dearest request's
   reservation, from what the model server received: the rule allows one per environment); then
   Redis's cached spend minus MongoDB's (drift) and the reservations left in flight.
2. Idempotency: IDEMPOTENT_REQUESTS requests at once with one Idempotency-Key, spread over three
   streamed-app processes; model calls and distinct answers. Again with Redis paused.
3. A Redis restart under load: three Lambda environments send requests for LOAD_S s, rotating
   over LOAD_USERS users of LOAD_BUDGET_USD each; Redis is restarted empty at half time (down
   RESTART_DOWN_S). Status counts, answers before, during and after the outage, 5xx that are not
   503, model calls against answers, and the largest overspend of a user.
4. Streams cut at random points through a streamed-app process: a client that leaves after a
   random number of deltas, and a model that breaks off after a random number (no usage sent);
   tokens charged against tokens the model server generated (it counts one per word and sends
   its usage only at the end of a stream).

Run: .venv/bin/python bench/money_faults.py (about 3 minutes). Needs redis-server installed and
Redis on 127.0.0.1:6379 (database 13 is flushed, for the harness's check). Figures go to
bench/results/money_faults.json; the environments' logs to bench/results/money_faults.log.
"""

import asyncio
import json
import os
import random
import statistics
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
from pymongo import MongoClient
from redis import Redis

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))

from harness import apply_indexes, code_version, machine, service_env, services  # noqa: E402

from aether import quota  # noqa: E402
from aether.llm.catalog import MODELS, TIERS  # noqa: E402
from aether_local.devauth import DEV_AUDIENCE, DevAuth  # noqa: E402
from aether_local.events import http_api_event  # noqa: E402
from aether_local.lambda_host import FunctionHost  # noqa: E402
from aether_local.model_server import ModelServer, Reply  # noqa: E402
from aether_local.processes import RedisServer, free_port  # noqa: E402
from aether_local.stream_api import AdapterApp  # noqa: E402
from aether_local.template import FunctionSpec, read_stream_api, read_template  # noqa: E402

ENVIRONMENTS = 3
BUDGET_USD = 0.005  # about 55 answers of ANSWER's cost
PHASES = (5, 70, 25)  # requests per environment: before, during, after the fault
MAX_TOKENS = 600
MODEL_DELAY_S = 0.02
ANSWER_USAGE = {"prompt_tokens": 1000, "completion_tokens": 500}
RESTART_DOWN_S = 1.0
RETRY_AFTER_S = 1  # REDIS_RETRY_AFTER_S in the environments
POOLS = ((2, 20), (20, 100))  # Redis connections per environment, wait for a free one (ms)
IDEMPOTENT_REQUESTS = 20
LOAD_S = 60.0
LOAD_USERS = 10
LOAD_BUDGET_USD = 0.04  # about 440 answers each: the budgets run out around the end of the load
STREAMS = 40  # per kind of cut
STREAM_WORDS = 200
PATH = "/api/ai/v4/chat/quick"
STREAM_PATH = "/api/ai/v4/chat/stream"
HARNESS_REDIS = "redis://127.0.0.1:6379/13"
RESULTS = ROOT / "bench" / "results" / "money_faults.json"
LOG = ROOT / "bench" / "results" / "money_faults.log"
WORDS = tuple(
    [
        "the",
        "cache",
        "keeps",
        "each",
        "answer",
        "for",
        "a",
        "while",
        "so",
        "that",
        "a",
        "second",
        "request",
        "costs",
        "nothing",
    ]
)


# ---------------------------------------------------------------------------------------------
# The bench's own Redis, and its faults


class OwnRedis(RedisServer):
    def client(self) -> Redis:
        return Redis(port=self.port, socket_timeout=5)

    def restart_empty(self, down_s: float = RESTART_DOWN_S) -> None:
        super().restart_empty(down_s)  # the outage of a failover: connections refused meanwhile


@dataclass
class Fault:
    name: str
    start: Callable[[OwnRedis], None]
    end: Callable[[OwnRedis], None]


def _out_of_connections(redis: OwnRedis, admin: list[Redis]) -> None:
    client = redis.client()
    client.config_set("maxclients", 1)  # this connection is the one
    client.client_kill_filter(_type="normal", skipme=True)
    admin.append(client)


def _connections_back(admin: list[Redis]) -> None:
    client = admin.pop()
    client.config_set("maxclients", 10000)
    client.close()


def faults() -> list[Fault]:
    admin: list[Redis] = []
    return [
        Fault("none", lambda r: None, lambda r: None),
        Fault("paused", OwnRedis.pause, OwnRedis.resume),
        Fault("restarted empty", OwnRedis.restart_empty, lambda r: None),
        Fault(
            "out of connections (maxclients)",
            lambda r: _out_of_connections(r, admin),
            lambda r: _connections_back(admin),
        ),
    ]


# ---------------------------------------------------------------------------------------------
# Environments


def chat_spec() -> FunctionSpec:
    return next(r.function for r in read_template(ROOT / "template.yaml") if r.function.name == "chat")


def quick_event(user: str, message: str, key: str | None = None, plan: str = "small") -> dict[str, Any]:
    body = json.dumps({"message": message, "max_tokens": MAX_TOKENS}).encode()
    headers = {"content-type": "application/json", **({"idempotency-key": key} if key else {})}
    return http_api_event(
        method="POST",
        path=PATH,
        query="",
        headers=headers,
        body=body,
        route_key=f"POST {PATH}",
        path_parameters={},
        claims={"sub": user, "custom:plan": plan},
    )


@contextmanager
def lambdas(env: dict[str, str]) -> Iterator[list[FunctionHost]]:
    """ENVIRONMENTS Lambda environments of the chat function, started (their cold start done)."""
    os.environ.update(env)  # what a FunctionHost's process inherits
    hosts = [FunctionHost(chat_spec()) for _ in range(ENVIRONMENTS)]
    try:
        for host in hosts:
            host.invoke(quick_event("warm-up", "warm up"))
        yield hosts
    finally:
        for host in hosts:
            host.close()


@contextmanager
def jwks(auth: DevAuth) -> Iterator[str]:
    """The dev key set over HTTP, as an identity provider publishes it."""
    body = json.dumps(auth.jwks()).encode()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/jwks.json"
    finally:
        httpd.shutdown()
        httpd.server_close()


@contextmanager
def streamed_apps(env: dict[str, str], auth: DevAuth) -> Iterator[list[str]]:
    """ENVIRONMENTS processes of the streamed chat app, as the Lambda Web Adapter runs it behind the
    stream API; their base URLs."""
    stream_api = read_stream_api(ROOT / "template.yaml")
    assert stream_api is not None
    spec = stream_api.routes[0].function
    with ExitStack() as stack:
        keys_url = stack.enter_context(jwks(auth))
        settings = {**env, "JWT_ISSUER": auth.issuer, "JWT_AUDIENCE": DEV_AUDIENCE, "JWT_JWKS_URL": keys_url}
        urls = []
        for _ in range(ENVIRONMENTS):
            url = AdapterApp(spec, free_port(), settings)
            stack.callback(url.close)
            urls.append(url)
        for url in urls:
            url.wait_ready()
        yield [u.url for u in urls]


# ---------------------------------------------------------------------------------------------
# What the stores say


def worst_case_nano(model: ModelServer, since: int) -> int:
    """The dearest reservation among the calls the model server received after `since`: each
    call's worst case on its tier's chain, as quota.worst_case_usd reserves it."""
    worst = [
        quota.worst_case_usd(TIERS[MODELS[r["model"]].tier], r["messages"], r["max_tokens"])
        for r in model.requests[since:]
        if r["model"] in MODELS
    ]
    return quota.nano_usd(max(worst)) if worst else 0


def mongo_spent(db: Any, user: str) -> int:
    return sum(r["cost_nano"] for r in db.usage.find({"user_id": user}, {"cost_nano": 1}))


def redis_view(redis: OwnRedis, user: str) -> tuple[int | None, int]:
    """Redis's cached spend of the user's day (None if it has none) and reservations in flight."""
    keys = quota.keys_of(user, datetime.now(UTC))
    with redis.client() as client:
        spent = client.hget(keys.day, "spent")
        held = client.zcount(keys.held, f"({int(time.time() * 1000)}", "+inf")
    return (int(spent) if spent is not None else None), int(held)


def money(db: Any, model: ModelServer, redis: OwnRedis, user: str, since: int) -> dict[str, Any]:
    budget, spent, worst = quota.nano_usd(BUDGET_USD), mongo_spent(db, user), worst_case_nano(model, since)
    cached, held = redis_view(redis, user)
    past = max(0, spent - budget)
    return {
        "budget_nano": budget,
        "spent_nano": spent,
        "past_budget_nano": past,
        "worst_case_nano": worst,
        "past_budget_in_worst_cases": round(past / worst, 2) if worst else None,
        "within_one_worst_case_per_environment": past <= ENVIRONMENTS * worst,
        "redis_spent_nano": cached,
        "drift_nano": None if cached is None else cached - spent,
        "in_flight_after": held,
    }


# ---------------------------------------------------------------------------------------------
# 1. Budgets


def status_of(response: dict[str, Any]) -> int:
    return int(response["statusCode"])


def budget_under(fault: Fault, env: dict[str, str], db: Any, model: ModelServer, redis: OwnRedis) -> dict:
    user = f"budget-{fault.name.split()[0]}-{uuid.uuid4().hex[:6]}"
    statuses: Counter[int] = Counter()
    with lambdas(env) as hosts:
        since = len(model.requests)

        def send(host: FunctionHost, index: int, count: int, phase: int) -> list[int]:
            return [
                status_of(host.invoke(quick_event(user, f"question {phase}-{index}-{i} for {user}")))
                for i in range(count)
            ]

        ended = 0.0
        with ThreadPoolExecutor(ENVIRONMENTS) as pool:
            for phase, count in enumerate(PHASES):
                if phase == 1:
                    fault.start(redis)
                if phase == 2:
                    fault.end(redis)
                    ended = time.monotonic()
                for result in pool.map(
                    send, hosts, range(ENVIRONMENTS), [count] * ENVIRONMENTS, [phase] * ENVIRONMENTS
                ):
                    statuses.update(result)
            time.sleep(max(0.0, ended + RETRY_AFTER_S + 0.5 - time.monotonic()))  # Redis retried
            # one more request from each environment, one after the other: nothing in flight
            for index, host in enumerate(hosts):
                statuses.update(send(host, index, 1, 4))
        calls_made = len(model.requests) - since
    return {
        "fault": fault.name,
        "requests": sum(statuses.values()),
        "statuses": dict(sorted(statuses.items())),
        "model_calls": calls_made,
        **money(db, model, redis, user, since),
    }


def budget_with_a_pool_that_runs_out(
    env: dict[str, str], auth: DevAuth, db: Any, model: ModelServer, redis: OwnRedis, pool: tuple[int, int]
) -> dict:
    """Three streamed-app processes, 100 requests at once each, with `pool` (connections, wait in
    ms) for Redis."""
    user = f"budget-pool-{uuid.uuid4().hex[:6]}"
    token = auth.sign(user)
    connections, wait_ms = pool
    settings = {**env, "REDIS_MAX_CONNECTIONS": str(connections), "REDIS_POOL_WAIT_MS": str(wait_ms)}
    per_environment = sum(PHASES)
    with streamed_apps(settings, auth) as urls:
        since = len(model.requests)

        async def load() -> list[int | str]:
            limits = httpx.Limits(max_connections=400, max_keepalive_connections=400)
            async with httpx.AsyncClient(timeout=60, limits=limits) as client:

                async def one(url: str, i: int) -> int | str:
                    body = {"message": f"question {i} for {user}", "max_tokens": MAX_TOKENS}
                    try:
                        response = await client.post(
                            url + PATH, json=body, headers={"authorization": f"Bearer {token}"}
                        )
                    except httpx.HTTPError as exc:
                        return type(exc).__name__
                    return response.status_code

                asked = [
                    one(url, n * per_environment + i)
                    for n, url in enumerate(urls)
                    for i in range(per_environment)
                ]
                return await asyncio.gather(*asked)

        statuses = Counter(asyncio.run(load()))
        calls_made = len(model.requests) - since
        with httpx.Client(timeout=60) as client:  # one more from each: nothing in flight
            for n, url in enumerate(urls):
                body = {"message": f"last question {n} for {user}", "max_tokens": MAX_TOKENS}
                statuses[
                    client.post(
                        url + PATH, json=body, headers={"authorization": f"Bearer {token}"}
                    ).status_code
                ] += 1
    return {
        "fault": f"100 at once in each of 3 streamed-app processes, {connections} Redis connections each"
        f" (a free one awaited {wait_ms} ms)",
        "requests": sum(statuses.values()),
        "statuses": {str(k): v for k, v in sorted(statuses.items(), key=str)},
        "model_calls": calls_made,
        **money(db, model, redis, user, since),
    }


# ---------------------------------------------------------------------------------------------
# 2. Idempotency


def idempotency(env: dict[str, str], auth: DevAuth, model: ModelServer, redis: OwnRedis) -> list[dict]:
    results = []
    settings = {**env, "PLANS": json.dumps({"small": {"usd_per_day": 1.0}})}
    with streamed_apps(settings, auth) as urls:
        for paused in (False, True):
            user = f"idem-{uuid.uuid4().hex[:6]}"
            token, key = auth.sign(user), uuid.uuid4().hex
            message = f"one answer only, for {user}"
            model.responder = lambda body: Reply(content="the one answer", delay_s=0.5, **ANSWER_USAGE)
            if paused:
                redis.pause()

            async def burst(
                token: str = token, key: str = key, message: str = message
            ) -> list[tuple[int, str]]:
                headers = {"authorization": f"Bearer {token}", "idempotency-key": key}
                body = {"message": message, "max_tokens": MAX_TOKENS}
                async with httpx.AsyncClient(timeout=60) as client:
                    sent = [
                        client.post(urls[i % ENVIRONMENTS] + PATH, json=body, headers=headers)
                        for i in range(IDEMPOTENT_REQUESTS)
                    ]
                    return [(r.status_code, r.text) for r in await asyncio.gather(*sent)]

            try:
                answers = asyncio.run(burst())
            finally:
                if paused:
                    redis.resume()
            calls = sum(1 for r in model.requests if r["messages"][-1]["content"] == message)
            results.append(
                {
                    "redis": "paused" if paused else "healthy",
                    "requests": IDEMPOTENT_REQUESTS,
                    "statuses": dict(Counter(status for status, _ in answers)),
                    "model_calls": calls,
                    "distinct_answers": len({text for _, text in answers}),
                }
            )
    return results


# ---------------------------------------------------------------------------------------------
# 3. A restart under load


def restart_under_load(env: dict[str, str], db: Any, model: ModelServer, redis: OwnRedis) -> dict:
    users = [f"load-{n}-{uuid.uuid4().hex[:6]}" for n in range(LOAD_USERS)]
    answered: list[tuple[float, int]] = []  # (seconds since the start, status)
    lock = threading.Lock()
    with lambdas(env) as hosts:
        since = len(model.requests)
        started = time.monotonic()
        restarted: list[float] = []

        def loop(host: FunctionHost, index: int) -> None:
            i = 0
            while time.monotonic() - started < LOAD_S:
                user = users[(index + i) % LOAD_USERS]
                event = quick_event(user, f"load {index}-{i} for {user}", plan="load")
                status = status_of(host.invoke(event))
                with lock:
                    answered.append((time.monotonic() - started, status))
                i += 1

        with ThreadPoolExecutor(ENVIRONMENTS) as pool:
            running = [pool.submit(loop, host, n) for n, host in enumerate(hosts)]
            time.sleep(LOAD_S / 2)
            restarted.append(time.monotonic() - started)
            redis.restart_empty()
            restarted.append(time.monotonic() - started)
            for future in running:
                future.result()
        calls_made = len(model.requests) - since
    worst = worst_case_nano(model, since)
    budget = quota.nano_usd(LOAD_BUDGET_USD)
    past = [max(0, mongo_spent(db, u) - budget) for u in users]
    statuses = Counter(status for _, status in answered)
    down_from, down_to = restarted

    def count(status: int, start: float, end: float) -> int:
        return sum(1 for at, s in answered if s == status and start <= at < end)

    return {
        "seconds": LOAD_S,
        "users": LOAD_USERS,
        "budget_usd_per_user": LOAD_BUDGET_USD,
        "redis_down_s": [round(down_from, 1), round(down_to, 1)],
        "requests": len(answered),
        "statuses": dict(sorted(statuses.items())),
        "5xx_other_than_503": sum(v for k, v in statuses.items() if k >= 500 and k != 503),
        "answers_before_restart": count(200, 0, down_from),
        "answers_while_down": count(200, down_from, down_to),
        "answers_after": count(200, down_to, LOAD_S + 60),
        "503_while_down_or_after": count(503, down_from, LOAD_S + 60),
        "model_calls": calls_made,
        "worst_case_nano": worst,
        "largest_past_budget_in_worst_cases": round(max(past) / worst, 2) if worst else None,
        "every_user_within_one_worst_case_per_environment": max(past) <= ENVIRONMENTS * worst,
    }


# ---------------------------------------------------------------------------------------------
# 4. Streams cut at random points


def streams_cut(env: dict[str, str], auth: DevAuth, db: Any, model: ModelServer) -> list[dict]:
    rng = random.Random(14)
    settings = {**env, "PLANS": json.dumps({"small": {"usd_per_day": 1.0}})}
    results = []
    with streamed_apps(settings, auth) as urls:
        for kind in ("the client leaves", "the model breaks off"):
            ratios = []
            for n in range(STREAMS):
                user = f"stream-{uuid.uuid4().hex[:6]}"
                words = " ".join(rng.choice(WORDS) for _ in range(STREAM_WORDS))
                cut = rng.randint(1, STREAM_WORDS - 1)
                breaks = cut if kind == "the model breaks off" else None
                reply = Reply(
                    content=words,
                    completion_tokens=STREAM_WORDS,
                    chunk_delay_s=0.001,
                    fail_after_chunks=breaks,
                )
                model.responder = lambda body, reply=reply: reply
                sent_before = len(model.chunks_sent)
                with httpx.Client(timeout=60) as client:
                    body = {"message": f"stream {n} for {user}", "agent": "dev", "max_tokens": MAX_TOKENS}
                    headers = {"authorization": f"Bearer {auth.sign(user)}"}
                    with client.stream("POST", urls[0] + STREAM_PATH, json=body, headers=headers) as response:
                        deltas = 0
                        for line in response.iter_lines():
                            if line.startswith("event: delta"):
                                deltas += 1
                                if kind == "the client leaves" and deltas == cut:
                                    break  # the connection closes here
                record = _record_of(db, user)
                while len(model.chunks_sent) == sent_before:  # the model server's count lands last
                    time.sleep(0.01)
                generated = model.chunks_sent[sent_before]  # one token per word, as its usage counts
                ratios.append(record["completion_tokens"] / generated)
            results.append(
                {
                    "cut": kind,
                    "streams": STREAMS,
                    "charged_over_generated_min": round(min(ratios), 3),
                    "median": round(statistics.median(ratios), 3),
                    "max": round(max(ratios), 3),
                    "never_under": min(ratios) >= 1.0,
                }
            )
    return results


def _record_of(db: Any, user: str, timeout_s: float = 30) -> dict[str, Any]:
    """The user's one usage record, once the environment has written it (after the client left)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        record = db.usage.find_one({"user_id": user})
        if record is not None:
            return dict(record)
        time.sleep(0.02)
    raise RuntimeError(f"no usage record for {user}")


# ---------------------------------------------------------------------------------------------


@contextmanager
def quiet_output() -> Iterator[Any]:
    """The environments' output (logs, uvicorn's lines) to LOG; the report to the real stdout."""
    LOG.parent.mkdir(parents=True, exist_ok=True)
    report = os.fdopen(os.dup(1), "w", buffering=1)
    with LOG.open("w") as log:
        saved = os.dup(1), os.dup(2)
        os.dup2(log.fileno(), 1)
        os.dup2(log.fileno(), 2)
        try:
            yield report
        finally:
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)


def main() -> None:
    with quiet_output() as report, services(HARNESS_REDIS) as (mongo_url, model):
        redis = OwnRedis()
        try:
            env = {
                **service_env(mongo_url, model),
                "REDIS_URL": redis.url,
                "MONGO_DB": "aether_money_faults",
                "PLANS": json.dumps(
                    {"small": {"usd_per_day": BUDGET_USD}, "load": {"usd_per_day": LOAD_BUDGET_USD}}
                ),
                "DEFAULT_PLAN": "small",
                "REDIS_RETRY_AFTER_S": str(RETRY_AFTER_S),
            }
            apply_indexes(env)
            db = MongoClient(mongo_url)["aether_money_faults"]
            auth = DevAuth(issuer="aether-bench")
            model.responder = lambda body: Reply(
                content="a short answer", delay_s=MODEL_DELAY_S, **ANSWER_USAGE
            )
            budgets = [budget_under(fault, env, db, model, redis) for fault in faults()]
            for pool in POOLS:
                budgets.append(budget_with_a_pool_that_runs_out(env, auth, db, model, redis, pool))
            for figures in budgets:
                print(json.dumps(figures), file=report)
            same_key = idempotency(env, auth, model, redis)
            print(json.dumps(same_key), file=report)
            model.responder = lambda body: Reply(
                content="a short answer", delay_s=MODEL_DELAY_S, **ANSWER_USAGE
            )
            load = restart_under_load(env, db, model, redis)
            print(json.dumps(load), file=report)
            streams = streams_cut(env, auth, db, model)
            print(json.dumps(streams), file=report)
        finally:
            redis.stop()
        results = {
            "machine": machine(),
            "code": code_version(),
            "budgets": budgets,
            "idempotency": same_key,
            "restart_under_load": load,
            "streams_cut": streams,
        }
        RESULTS.write_text(json.dumps(results, indent=2) + "\n")
        print(f"written to {RESULTS.relative_to(ROOT)}", file=report)


if __name__ == "__main__":
    main()
