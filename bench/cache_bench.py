"""Cache benchmarks (issue 3): value encoding, L1 and L3 hit cost, hit rate across environments, stampede.

Run from the repository root:  .venv/bin/python bench/cache_bench.py

Every figure is a ratio against a floor measured in the same run, or a count: json against pickle,
MemoryTier against cachetools.TTLCache, an L3 hit against a raw redis-py GET, the simulated hit
rate against an ideal cache, computations in a stampede. Redis must answer on 127.0.0.1:6379; the
bench uses db 13 and flushes it first. The method is described in BENCHMARKS.md ("Cache"). The
report goes to stdout and to bench/results/cache.json.
"""

import asyncio
import contextlib
import hashlib
import json
import multiprocessing
import os
import pickle
import random
import socket
import statistics
import sys
import time
import timeit
import uuid
from collections import Counter, OrderedDict
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import cachetools
from redis import Redis
from redis.asyncio import Redis as AsyncRedis
from redis.exceptions import RedisError
from redis.utils import HIREDIS_AVAILABLE

import aether.cache.tiered as tiered_module
from aether.cache.redis_tier import _READ
from aether.cache.tiered import Lookup, TieredCache, TierName
from aether.settings import Settings
from aether.telemetry import count, logger

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results" / "cache.json"
REDIS_URL = "redis://127.0.0.1:6379/13"
SEED = 3
TTL_S = 3_600  # entry TTL in every scenario: nothing expires during a run
FRESH_VERSION_MS = 3_600_000  # a namespace version that stays fresh for the whole run

Compute = Callable[[], Awaitable[bytes]]


# ---------------------------------------------------------------------------------------------
# Shared helpers


def settings(**overrides: Any) -> Settings:
    return replace(Settings(), **overrides)


def redis_client(url: str = REDIS_URL) -> AsyncRedis:
    """An asyncio client with the connection settings aether.clients.redis uses in production."""
    timeout = Settings().redis_timeout_ms / 1000
    return AsyncRedis.from_url(
        url, socket_timeout=timeout, socket_connect_timeout=timeout, client_name="aether-cache-bench"
    )


def constant(value: bytes) -> Compute:
    async def compute() -> bytes:
        return value

    return compute


@contextlib.contextmanager
def emf_to_devnull() -> Iterator[None]:
    """aether.telemetry.count prints one EMF line per cache lookup; keep them out of the report.

    The lines are still formatted and written (to /dev/null), so their cost stays in the figures.
    """
    with open(os.devnull, "w") as sink, contextlib.redirect_stdout(sink):
        yield


@contextlib.contextmanager
def telemetry_muted() -> Iterator[bool]:
    """Diagnostic only: replace the per-lookup metric in aether.cache.tiered with a no-op, if it has one."""
    original = getattr(tiered_module, "count", None)
    if original is None:
        yield False
        return
    tiered_module.count = lambda *args, **kwargs: None  # type: ignore[attr-defined]
    try:
        yield True
    finally:
        tiered_module.count = original  # type: ignore[attr-defined]


def digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def median_of(samples: dict[str, list[float]]) -> dict[str, float]:
    return {name: statistics.median(values) for name, values in samples.items()}


def rotated[T](items: list[T], turn: int) -> list[T]:
    """The items starting at a different one each turn, so no kind always runs first."""
    shift = turn % len(items)
    return items[shift:] + items[:shift]


# ---------------------------------------------------------------------------------------------
# 1. Value encoding of a cached answer

ENCODE_NUMBER = 2_000  # encode+decode pairs per timing
ENCODE_REPEAT = 9


def sample_answer(length: int = 1_500) -> dict[str, Any]:
    """A cached answer as services/chat.py stores it: markdown-ish text with newlines, quotes, a dash."""
    rng = random.Random(SEED)
    words = [
        *("the", "cache", "answers", "a", "repeated", "prompt", "from", "memory", "when", "its"),
        *("namespace", "version", "is", "fresh", "and", "otherwise", "reads", "Redis", "once"),
        *("per", "lookup", "so", "every", "environment", "sees", "the", "same", "entry"),
    ]
    parts = ['Here is a short answer \u2014 with a few "quoted" terms and `code`:\n\n']
    while sum(map(len, parts)) < length:
        sentence = " ".join(rng.choice(words) for _ in range(rng.randint(8, 16)))
        parts.append(f"- {sentence.capitalize()}.\n" if rng.random() < 0.3 else f"{sentence.capitalize()}. ")
    return {
        "content": "".join(parts)[:length],
        "model": "llama-3.3-70b-versatile",
        "prompt_tokens": 812,
        "completion_tokens": 356,
        "cost_usd": 0.00076,
    }


def json_encode(value: dict[str, Any]) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()  # as services/chat.py writes it


def pickle_encode(value: dict[str, Any]) -> bytes:
    return pickle.dumps(value, protocol=5)


def codecs() -> dict[str, tuple[Callable[[dict[str, Any]], bytes], Callable[[bytes], Any]]]:
    found: dict[str, tuple[Callable[[dict[str, Any]], bytes], Callable[[bytes], Any]]] = {
        "json": (json_encode, json.loads),
        "pickle5": (pickle_encode, pickle.loads),
    }
    try:
        import msgpack  # type: ignore[import-not-found]
    except ImportError:
        return found
    found["msgpack"] = (msgpack.packb, msgpack.unpackb)
    return found


def per_op_us(fn: Callable[[], object]) -> float:
    times = timeit.repeat(fn, number=ENCODE_NUMBER, repeat=ENCODE_REPEAT)
    return statistics.median(times) / ENCODE_NUMBER * 1e6


def measure_encoding() -> dict[str, Any]:
    value = sample_answer()
    rows: dict[str, Any] = {}
    for name, (encode, decode) in codecs().items():
        encoded = encode(value)
        assert decode(encoded) == value, name
        rows[name] = {
            "bytes": len(encoded),
            "encode_us": per_op_us(lambda encode=encode: encode(value)),
            "decode_us": per_op_us(lambda decode=decode, encoded=encoded: decode(encoded)),
            "both_us": per_op_us(lambda encode=encode, decode=decode: decode(encode(value))),
        }
    floor = rows["pickle5"]
    for row in rows.values():
        row["time_ratio_to_pickle"] = row["both_us"] / floor["both_us"]
        row["bytes_ratio_to_pickle"] = row["bytes"] / floor["bytes"]
    return {
        "content_chars": len(value["content"]),
        "codecs": rows,
        "msgpack": "measured" if "msgpack" in rows else "not installed: skipped",
    }


# ---------------------------------------------------------------------------------------------
# 2. L1 hit cost

L1_KEYS = 10_000
L1_SYNC_CALLS = 20_000  # gets per timed block for the synchronous tiers
L1_ASYNC_CALLS = 5_000  # get_or_compute calls per timed block
L1_ROUNDS = 9
L1_NAMESPACE = "bench-l1"
# Each concurrent lookup opens its own connection (redis-py's pool is unbounded); 100 at once from a
# cold client overran the 50 ms connect timeout here and L3 was marked down, so fills stay modest.
FILL_CONCURRENCY = 10


def l1_digests() -> list[str]:
    return [digest(f"l1 prompt {i}") for i in range(L1_KEYS)]


def access_pattern(n_keys: int, calls: int) -> list[int]:
    return random.Random(SEED).choices(range(n_keys), k=calls)


def time_sync(get: Callable[[str], object], keys: list[str]) -> float:
    """ns per call of get over keys, loop overhead included (the same loop for every kind)."""
    started = time.perf_counter_ns()
    for key in keys:
        get(key)
    return (time.perf_counter_ns() - started) / len(keys)


async def time_lookups(cache: TieredCache, digests: list[str], tiers: tuple[TierName, ...]) -> float:
    """ns per get_or_compute awaited in one coroutine. A hit never suspends, so the event loop does
    not run between calls: the block is timed inside the coroutine and holds no loop overhead."""
    compute = constant(b"never computed")
    started = time.perf_counter_ns()
    for key in digests:
        await cache.get_or_compute(L1_NAMESPACE, key, compute, ttl_s=TTL_S, tiers=tiers)
    return (time.perf_counter_ns() - started) / len(digests)


async def fill_tiered(
    cache: TieredCache, namespace: str, digests: list[str], value: bytes, tiers: tuple[TierName, ...]
) -> None:
    """One miss per digest (computed, written through), FILL_CONCURRENCY at a time."""
    for start in range(0, len(digests), FILL_CONCURRENCY):
        await asyncio.gather(
            *(
                cache.get_or_compute(namespace, key, constant(value), ttl_s=TTL_S, tiers=tiers)
                for key in digests[start : start + FILL_CONCURRENCY]
            )
        )
    assert cache.l3.incidents == 0, "Redis failed while filling the cache"


@dataclass
class L1Setup:
    keys: list[str]  # the keys TieredCache itself uses, so hashing costs the same everywhere
    sync_pattern: list[str]
    async_pattern: list[str]
    plain: dict[str, bytes]
    ttl_cache: cachetools.TTLCache[str, bytes]
    memory: Any  # the MemoryTier inside `shipped`
    shipped: TieredCache  # tiers ("l1", "l3"), version fresh: the fast path
    l1_only: TieredCache  # tiers ("l1",), as @cached(tiers=("l1",)) uses it


async def l1_setup(client: AsyncRedis) -> L1Setup:
    value = json_encode(sample_answer())
    digests = l1_digests()
    config = settings(cache_l1_size=L1_KEYS, cache_version_ttl_ms=FRESH_VERSION_MS)
    shipped = TieredCache(config, redis=lambda: client)
    l1_only = TieredCache(config, redis=lambda: client)
    await fill_tiered(shipped, L1_NAMESPACE, digests, value, ("l1", "l3"))
    await fill_tiered(l1_only, L1_NAMESPACE, digests, value, ("l1",))
    keys = [shipped._key(L1_NAMESPACE, 0, key) for key in digests]  # the keys L1 holds (version 0)
    assert all(key in shipped.l1._data for key in keys) and len(shipped.l1) == L1_KEYS
    ttl_cache: cachetools.TTLCache[str, bytes] = cachetools.TTLCache(maxsize=L1_KEYS, ttl=shipped.l1.ttl_s)
    for key in keys:
        ttl_cache[key] = value
    return L1Setup(
        keys=keys,
        sync_pattern=[keys[i] for i in access_pattern(L1_KEYS, L1_SYNC_CALLS)],
        async_pattern=[digests[i] for i in access_pattern(L1_KEYS, L1_ASYNC_CALLS)],
        plain=dict.fromkeys(keys, value),
        ttl_cache=ttl_cache,
        memory=shipped.l1,
        shipped=shipped,
        l1_only=l1_only,
    )


def one_metric(key: str) -> None:
    """What get_or_compute emits per lookup (aether.telemetry.count), for attribution."""
    count("CacheHitL1")


async def l1_round(setup: L1Setup, samples: dict[str, list[float]], turn: int) -> None:
    async def muted() -> float:
        with telemetry_muted():
            return await time_lookups(setup.shipped, setup.async_pattern, ("l1", "l3"))

    sync_kinds: dict[str, Callable[[], float]] = {
        "dict.get": lambda: time_sync(setup.plain.get, setup.sync_pattern),
        "TTLCache.get": lambda: time_sync(setup.ttl_cache.get, setup.sync_pattern),
        "MemoryTier.get": lambda: time_sync(setup.memory.get, setup.sync_pattern),
        "telemetry.count alone": lambda: time_sync(one_metric, setup.async_pattern),
    }
    async_kinds: dict[str, Callable[[], Awaitable[float]]] = {
        "get_or_compute": lambda: time_lookups(setup.shipped, setup.async_pattern, ("l1", "l3")),
        "get_or_compute, metric muted": muted,
        "get_or_compute, tiers=('l1',)": lambda: time_lookups(setup.l1_only, setup.async_pattern, ("l1",)),
    }
    for name in rotated([*sync_kinds, *async_kinds], turn):
        sample = sync_kinds[name]() if name in sync_kinds else await async_kinds[name]()
        samples.setdefault(name, []).append(sample)


async def measure_l1() -> dict[str, Any]:
    client = redis_client()
    try:
        setup = await l1_setup(client)
        before = {"shipped": Counter(setup.shipped.counters), "l1_only": Counter(setup.l1_only.counters)}
        samples: dict[str, list[float]] = {}
        await l1_round(setup, samples, 0)  # warm-up
        samples.clear()
        for turn in range(L1_ROUNDS):
            await l1_round(setup, samples, turn)
        shipped = dict(setup.shipped.counters - before["shipped"])
        l1_only = dict(setup.l1_only.counters - before["l1_only"])
    finally:
        await client.aclose()
    ns = median_of(samples)
    floor = ns["TTLCache.get"]
    return {
        "keys": L1_KEYS,
        "calls_per_block": {"sync": L1_SYNC_CALLS, "get_or_compute": L1_ASYNC_CALLS},
        "rounds": L1_ROUNDS,
        "ns_per_get": ns,
        "ratio_to_ttlcache": {name: value / floor for name, value in ns.items()},
        "memory_tier_ratio": ns["MemoryTier.get"] / floor,
        "counters_during_timing": {"tiers=('l1','l3')": shipped, "tiers=('l1',)": l1_only},
        "metric_in_lookup": hasattr(tiered_module, "count"),
    }


# ---------------------------------------------------------------------------------------------
# 3. L3 hit cost

L3_KEYS = 100
L3_BLOCK = 200  # operations per timed block
L3_ROUNDS = 25
L3_NAMESPACE = "bench-l3"
ONE_GET_SCRIPT = "return redis.call('GET', KEYS[1])"  # isolates the cost of going through Lua
# The first runs compared the product's read script with this variant, which answers a hit with
# one bulk string "<version>:<value>" instead of a three-element array (cheaper to parse in
# redis-py); the product adopted it, so the two rows now measure the same script.
BULK_READ_SCRIPT = """
local version = redis.call('GET', KEYS[1]) or '0'
local key = ARGV[1] .. version .. ARGV[2]
local value = redis.call('GET', key)
if value then return version .. ':' .. value end
local locked = 0
if tonumber(ARGV[4]) > 0 and redis.call('SET', key .. ':lock', ARGV[3], 'NX', 'PX', ARGV[4]) then
  locked = 1
end
return {version, locked}
"""


@dataclass
class L3Setup:
    client: AsyncRedis
    cache: TieredCache
    digests: list[str]
    raw_keys: list[str]
    one_get_sha: str
    read_sha: str
    bulk_read_sha: str


async def l3_setup(client: AsyncRedis) -> L3Setup:
    value = json_encode(sample_answer())
    cache = TieredCache(settings(cache_version_ttl_ms=0), redis=lambda: client)
    digests = [digest(f"l3 prompt {i}") for i in range(L3_KEYS)]
    await fill_tiered(cache, L3_NAMESPACE, digests, value, ("l3",))
    # Raw keys as long as the cache's own ("aether:{bench-l3}:v0:" + 64 hex), holding the same bytes.
    raw_keys = [f"bench:raw:{i:012d}:{key}" for i, key in enumerate(digests)]
    await client.mset(dict.fromkeys(raw_keys, value))
    return L3Setup(
        client,
        cache,
        digests,
        raw_keys,
        one_get_sha=await client.script_load(ONE_GET_SCRIPT),
        read_sha=client.register_script(_READ).sha,
        bulk_read_sha=await client.script_load(BULK_READ_SCRIPT),
    )


def l3_kinds(setup: L3Setup) -> dict[str, Callable[[int], Awaitable[object]]]:
    """Each kind reads entry i once: from a raw GET up to the full lookup, one layer at a time."""
    client, cache = setup.client, setup.cache
    prefix = TieredCache._prefix(L3_NAMESPACE)
    version_key, token = f"{prefix}er", "0" * 16

    async def lookup(i: int) -> Lookup:
        return await cache.get_or_compute(
            L3_NAMESPACE, setup.digests[i], constant(b"never computed"), ttl_s=TTL_S, tiers=("l3",)
        )

    async def lookup_muted(i: int) -> Lookup:
        with telemetry_muted():
            return await lookup(i)

    return {
        "raw GET": lambda i: client.get(setup.raw_keys[i]),
        "raw EVALSHA, one-GET script": lambda i: client.evalsha(setup.one_get_sha, 1, setup.raw_keys[i]),
        "raw EVALSHA, the read script": lambda i: client.evalsha(
            setup.read_sha, 1, version_key, prefix, f":{setup.digests[i]}", token, cache.lock_ms
        ),
        "raw EVALSHA, bulk-reply variant": lambda i: client.evalsha(
            setup.bulk_read_sha, 1, version_key, prefix, f":{setup.digests[i]}", token, cache.lock_ms
        ),
        "RedisTier.read": lambda i: cache.l3.read(
            version_key, prefix, f":{setup.digests[i]}", token, cache.lock_ms
        ),
        "get_or_compute, metric muted": lookup_muted,
        "get_or_compute": lookup,
    }


async def time_block(op: Callable[[int], Awaitable[object]], start: int) -> tuple[float, float]:
    """(wall µs, this process's CPU µs) per operation over one block of sequential awaits."""
    cpu_started, started = time.process_time(), time.perf_counter()
    for n in range(start, start + L3_BLOCK):
        await op(n % L3_KEYS)
    wall, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    return wall / L3_BLOCK * 1e6, cpu / L3_BLOCK * 1e6


def server_stats(sync: Redis) -> dict[str, dict[str, int]]:
    stats = sync.info("commandstats")
    return {name: stats.get(f"cmdstat_{name}", {"calls": 0, "usec": 0}) for name in ("get", "evalsha")}


def server_us_per_call(
    before: dict[str, dict[str, int]], after: dict[str, dict[str, int]]
) -> dict[str, float | None]:
    result: dict[str, float | None] = {}
    for name in before:
        calls = after[name]["calls"] - before[name]["calls"]
        result[name] = (after[name]["usec"] - before[name]["usec"]) / calls if calls else None
    return result


async def measure_l3(sync: Redis) -> dict[str, Any]:
    client = redis_client()
    try:
        setup = await l3_setup(client)
        kinds = l3_kinds(setup)
        for name in kinds:  # warm-up: connection, script cache, code paths
            await time_block(kinds[name], 0)
        counters_before = Counter(setup.cache.counters)
        stats_before = server_stats(sync)
        wall: dict[str, list[float]] = {name: [] for name in kinds}
        cpu: dict[str, list[float]] = {name: [] for name in kinds}
        for turn in range(L3_ROUNDS):
            for name in rotated(list(kinds), turn):
                wall_us, cpu_us = await time_block(kinds[name], turn * L3_BLOCK)
                wall[name].append(wall_us)
                cpu[name].append(cpu_us)
        server = server_us_per_call(stats_before, server_stats(sync))
        counters = dict(setup.cache.counters - counters_before)
        incidents = setup.cache.l3.incidents
    finally:
        await client.aclose()
    us, cpu_us = median_of(wall), median_of(cpu)
    floor = us["raw GET"]
    return {
        "value_bytes": len(json_encode(sample_answer())),
        "block": L3_BLOCK,
        "rounds": L3_ROUNDS,
        "us_per_op": us,
        "client_cpu_us_per_op": cpu_us,
        "ratio_to_get": {name: value / floor for name, value in us.items()},
        "ratio": us["get_or_compute"] / floor,
        "server_us_per_call": server,
        "counters_during_timing": counters,
        "redis_incidents": incidents,
    }


# ---------------------------------------------------------------------------------------------
# 4. Hit rate on a simulated workload

PROMPTS = 2_000
REQUESTS = 20_000
ENVIRONMENTS = 8
ZIPF_S = 1.0
SIM_L1 = 100  # entries per environment
SIM_L2 = 400
SIM_VALUE = b'{"content":"a short cached answer"}'


@dataclass(frozen=True)
class Workload:
    prompts: list[int]  # prompt rank (0 = most popular) of each request
    environments: list[int]  # the environment each request lands on


def zipf_workload() -> Workload:
    rng = random.Random(SEED)
    weights = [1 / rank**ZIPF_S for rank in range(1, PROMPTS + 1)]
    prompts = rng.choices(range(PROMPTS), weights=weights, k=REQUESTS)
    return Workload(prompts, [rng.randrange(ENVIRONMENTS) for _ in range(REQUESTS)])


def ideal_lru_hits(requests: list[int], capacity: int | None) -> int:
    """Hits of one LRU cache of `capacity` entries (None: unbounded) seeing every request."""
    cache: OrderedDict[int, None] = OrderedDict()
    hits = 0
    for prompt in requests:
        if prompt in cache:
            hits += 1
            cache.move_to_end(prompt)
            continue
        cache[prompt] = None
        if capacity is not None and len(cache) > capacity:
            cache.popitem(last=False)
    return hits


def ideal_per_environment_hits(workload: Workload, capacity: int) -> int:
    return sum(
        ideal_lru_hits(
            [p for p, e in zip(workload.prompts, workload.environments, strict=True) if e == env], capacity
        )
        for env in range(ENVIRONMENTS)
    )


@dataclass(frozen=True)
class Scenario:
    name: str
    redis: bool  # False: memory tiers only, the path taken while Redis is down
    version_ttl_ms: int
    tiers: tuple[TierName, ...] = ("l1", "l2", "l3")


SCENARIOS = (
    Scenario("L1+L2+L3, version fresh", redis=True, version_ttl_ms=FRESH_VERSION_MS),
    Scenario("L1+L2+L3, version re-read every lookup", redis=True, version_ttl_ms=0),
    Scenario("L1+L3 (chat, shared scope), version fresh", True, FRESH_VERSION_MS, ("l1", "l3")),
    Scenario("L1+L2 only: Redis unavailable", redis=False, version_ttl_ms=FRESH_VERSION_MS),
)


async def simulate(workload: Workload, scenario: Scenario) -> dict[str, Any]:
    clients = [redis_client() for _ in range(ENVIRONMENTS)] if scenario.redis else []
    config = settings(
        cache_l1_size=SIM_L1, cache_l2_size=SIM_L2, cache_version_ttl_ms=scenario.version_ttl_ms
    )
    caches = [
        TieredCache(config, redis=(lambda c=client: c) if scenario.redis else (lambda: None))
        for client in (clients or [None] * ENVIRONMENTS)
    ]
    namespace = f"sim-{uuid.uuid4().hex[:8]}"
    answered: Counter[str] = Counter()
    try:
        for prompt, env in zip(workload.prompts, workload.environments, strict=True):
            lookup = await caches[env].get_or_compute(
                namespace, f"prompt-{prompt}", constant(SIM_VALUE), ttl_s=TTL_S, tiers=scenario.tiers
            )
            answered[lookup.tier or "computed"] += 1
    finally:
        for client in clients:
            await client.aclose()
    hits = REQUESTS - answered["computed"]
    return {
        "answered_by": dict(answered),
        "hits": hits,
        "hit_rate": hits / REQUESTS,
        "no_redis_round_trip": answered["l1"] + answered["l2"] if scenario.redis else REQUESTS,
        "redis_incidents": sum(cache.l3.incidents for cache in caches),
    }


async def first_lookup_with_redis_refusing() -> dict[str, Any]:
    """Wall time of the lookup that finds Redis down (connection refused), and of the next one."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]  # nothing listens there once the socket is closed
    client = redis_client(f"redis://127.0.0.1:{closed_port}/0")
    cache = TieredCache(settings(), redis=lambda: client)
    times = []
    try:
        for i in range(2):
            started = time.perf_counter()
            await cache.get_or_compute("down", f"q{i}", constant(SIM_VALUE), ttl_s=TTL_S)
            times.append((time.perf_counter() - started) * 1000)
    finally:
        await client.aclose()
    return {"first_ms": times[0], "next_ms": times[1], "incidents": cache.l3.incidents}


async def measure_hit_rate() -> dict[str, Any]:
    workload = zipf_workload()
    ideal = {
        "shared, unbounded": ideal_lru_hits(workload.prompts, None),
        f"shared LRU of {ENVIRONMENTS * SIM_L2} (all environments' L2 pooled)": ideal_lru_hits(
            workload.prompts, ENVIRONMENTS * SIM_L2
        ),
        f"shared LRU of {SIM_L2}": ideal_lru_hits(workload.prompts, SIM_L2),
        f"per environment, LRU of {SIM_L2} each": ideal_per_environment_hits(workload, SIM_L2),
    }
    scenarios = {scenario.name: await simulate(workload, scenario) for scenario in SCENARIOS}
    reference = ideal["shared, unbounded"] / REQUESTS
    for row in scenarios.values():
        row["share_of_ideal"] = row["hit_rate"] / reference
    return {
        "workload": {
            "prompts": PROMPTS,
            "requests": REQUESTS,
            "environments": ENVIRONMENTS,
            "zipf_s": ZIPF_S,
            "seed": SEED,
            "distinct_prompts_requested": len(set(workload.prompts)),
            "per_environment": {"l1": SIM_L1, "l2": SIM_L2},
        },
        "ideal_hit_rate": {name: hits / REQUESTS for name, hits in ideal.items()},
        "scenarios": scenarios,
        "redis_refusing": await first_lookup_with_redis_refusing(),
    }


# ---------------------------------------------------------------------------------------------
# 5. Stampede across environments (OS processes)

STAMPEDE_PROCESSES = 5
STAMPEDE_TASKS = 10
STAMPEDE_ROUNDS = 3
MODEL_LATENCY_S = 0.2  # the simulated model call
STAMPEDE_NAMESPACE = "bench-stampede"


def counter_key(run: str, round_no: int) -> str:
    return f"bench:stampede:{run}:{round_no}:computations"


async def stampede_round(cache: TieredCache, client: AsyncRedis, run: str, round_no: int) -> dict[str, Any]:
    async def slow_model() -> bytes:
        await client.incr(counter_key(run, round_no))
        await asyncio.sleep(MODEL_LATENCY_S)
        return SIM_VALUE

    before = Counter(cache.counters)
    released_at = time.time()
    started = time.perf_counter()
    lookups = await asyncio.gather(
        *(
            cache.get_or_compute(STAMPEDE_NAMESPACE, f"{run}-{round_no}", slow_model, ttl_s=60)
            for _ in range(STAMPEDE_TASKS)
        )
    )
    counters = cache.counters - before
    return {
        "released_at": released_at,
        "elapsed_ms": (time.perf_counter() - started) * 1000,
        "answered_by": Counter(lookup.tier or "computed" for lookup in lookups),
        "lock_waited": counters["l3_lock_waited"],
        "l3_unavailable": counters["l3_unavailable"],
    }


async def stampede_process(barrier: Any, run: str) -> list[dict[str, Any]]:
    client = redis_client()
    cache = TieredCache(settings(), redis=lambda: client)
    await client.ping()  # connected before the release
    rounds = []
    try:
        for round_no in range(STAMPEDE_ROUNDS):
            barrier.wait()  # blocks the loop on purpose: nothing else runs in this process yet
            rounds.append(await stampede_round(cache, client, run, round_no))
    finally:
        await client.aclose()
    return rounds


def stampede_worker(barrier: Any, results: Any, run: str) -> None:
    """One execution environment: its own process, TieredCache and Redis connection."""
    # The EMF lines go nowhere; the file stays open for the life of this short process.
    sys.stdout = open(os.devnull, "w")  # noqa: SIM115
    logger.setLevel("ERROR")
    results.put(asyncio.run(stampede_process(barrier, run)))


def run_stampede_processes(run: str) -> list[list[dict[str, Any]]]:
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(STAMPEDE_PROCESSES, timeout=60)
    results = context.Queue()
    processes = [
        context.Process(target=stampede_worker, args=(barrier, results, run))
        for _ in range(STAMPEDE_PROCESSES)
    ]
    for process in processes:
        process.start()
    collected = [results.get(timeout=120) for _ in processes]
    for process in processes:
        process.join(10)
        if process.exitcode != 0:
            raise RuntimeError(f"stampede process exited with {process.exitcode}")
    return collected


def summarise_round(sync: Redis, run: str, round_no: int, per_process: list[dict[str, Any]]) -> dict:
    answered = sum((p["answered_by"] for p in per_process), Counter())
    lock_waited = sum(p["lock_waited"] for p in per_process)
    releases = [p["released_at"] for p in per_process]
    return {
        "computations": int(sync.get(counter_key(run, round_no)) or 0),
        "computed_here": answered["computed"],
        "single_flight": answered["single_flight"],
        "waited_on_lock": lock_waited,
        "l3_hit_without_waiting": answered["l3"] - lock_waited,
        "other": {k: v for k, v in answered.items() if k not in {"computed", "single_flight", "l3"}},
        "l3_unavailable": sum(p["l3_unavailable"] for p in per_process),
        "release_spread_ms": (max(releases) - min(releases)) * 1000,
        "slowest_ms": max(p["elapsed_ms"] for p in per_process),
    }


def measure_stampede(sync: Redis) -> dict[str, Any]:
    run = uuid.uuid4().hex[:8]
    collected = run_stampede_processes(run)
    rounds = [
        summarise_round(sync, run, round_no, [process[round_no] for process in collected])
        for round_no in range(STAMPEDE_ROUNDS)
    ]
    return {
        "processes": STAMPEDE_PROCESSES,
        "tasks_per_process": STAMPEDE_TASKS,
        "model_latency_ms": MODEL_LATENCY_S * 1000,
        "rounds": rounds,
    }


# ---------------------------------------------------------------------------------------------
# Orchestration and report


def cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return "unknown"


def environment(sync: Redis) -> dict[str, Any]:
    from harness import code_version, machine  # imported here, not in spawned workers

    memory_gib = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") / 2**30
    return {
        "machine": machine() | {"cpu_model": cpu_model(), "memory_gib": round(memory_gib, 1)},
        "redis": {
            "version": sync.info("server")["redis_version"],
            "url": REDIS_URL,
            "maxmemory": sync.config_get("maxmemory")["maxmemory"],
            "client_parser": "hiredis" if HIREDIS_AVAILABLE else "pure Python (no hiredis)",
        },
        "code": code_version(),
    }


def connect() -> Redis:
    sync = Redis.from_url(REDIS_URL, socket_timeout=2)
    try:
        sync.flushdb()
    except (RedisError, OSError) as exc:
        raise SystemExit(f"Redis does not answer at {REDIS_URL}: {exc}") from exc
    return sync


def verdict(ok: bool) -> str:
    return "meets target" if ok else "MISSES target"


def print_encoding(result: dict[str, Any]) -> None:
    print(f"1. Encoding a cached answer ({result['content_chars']}-char content), µs per value")
    print(f"   median of {ENCODE_REPEAT} timeit repeats x {ENCODE_NUMBER}")
    print("   codec       bytes   encode   decode     both   time vs pickle   bytes vs pickle")
    for name, row in result["codecs"].items():
        print(
            f"   {name:<9} {row['bytes']:>7} {row['encode_us']:>8.2f} {row['decode_us']:>8.2f} "
            f"{row['both_us']:>8.2f} {row['time_ratio_to_pickle']:>15.2f}x "
            f"{row['bytes_ratio_to_pickle']:>16.2f}x"
        )
    print(f"   msgpack: {result['msgpack']}")


def print_l1(result: dict[str, Any]) -> None:
    calls = result["calls_per_block"]
    print(
        f"2. L1 hit cost, {result['keys']} keys, the same seeded random access pattern, ns per call, "
        f"median of {result['rounds']} blocks ({calls['sync']} gets or {calls['get_or_compute']} lookups)"
    )
    for name, ns in result["ns_per_get"].items():
        print(f"   {name:<32} {ns:>8.0f} ns  {result['ratio_to_ttlcache'][name]:>6.2f}x TTLCache.get")
    ratio = result["memory_tier_ratio"]
    print(f"   MemoryTier.get vs TTLCache.get: {ratio:.2f}x (target <= 2x: {verdict(ratio <= 2)})")
    for name, counters in result["counters_during_timing"].items():
        print(f"   counters while timing get_or_compute {name}: {counters}")


def print_l3(result: dict[str, Any]) -> None:
    print(
        f"3. L3 hit cost, {result['value_bytes']}-byte value, µs per read, "
        f"median of {result['rounds']} blocks of {result['block']} sequential awaits"
    )
    print(f"   {'':<32} {'wall':>7} {'vs GET':>7} {'client CPU':>11}")
    for name, us in result["us_per_op"].items():
        cpu = result["client_cpu_us_per_op"][name]
        print(f"   {name:<32} {us:>7.1f} {result['ratio_to_get'][name]:>6.2f}x {cpu:>11.1f}")
    ratio = result["ratio"]
    print(f"   L3 hit vs raw GET: {ratio:.2f}x (target <= 1.3x: {verdict(ratio <= 1.3)})")
    server = result["server_us_per_call"]
    print(
        "   Redis server time per call (INFO commandstats): "
        + ", ".join(f"{name} {us:.1f} µs" for name, us in server.items() if us is not None)
    )
    print(f"   counters while timing: {result['counters_during_timing']}")
    print(f"   Redis incidents: {result['redis_incidents']}")


def print_hit_rate(result: dict[str, Any]) -> None:
    w = result["workload"]
    print(
        f"4. Hit rate: Zipf s={w['zipf_s']} over {w['prompts']} prompts "
        f"({w['distinct_prompts_requested']} of them requested), {w['requests']} requests, seed {w['seed']}, "
        f"{w['environments']} environments"
    )
    print(
        f"   with L1 {w['per_environment']['l1']} + L2 {w['per_environment']['l2']} entries each, "
        "one Redis (unbounded) shared as L3"
    )
    for name, rate in result["ideal_hit_rate"].items():
        print(f"   ideal: {name:<51} {rate:>7.2%}")
    for name, row in result["scenarios"].items():
        print(
            f"   {name:<58} {row['hit_rate']:>7.2%} = {row['share_of_ideal']:>6.1%} of ideal; "
            f"no Redis round trip: {row['no_redis_round_trip']}"
        )
        split = ", ".join(f"{tier} {n}" for tier, n in sorted(row["answered_by"].items()))
        print(f"   {'':<60}answered by: {split}; Redis incidents {row['redis_incidents']}")
    share = result["scenarios"][SCENARIOS[0].name]["share_of_ideal"]
    print(f"   target >= 95% of the ideal (unbounded = L3's capacity here): {verdict(share >= 0.95)}")
    down = result["redis_refusing"]
    print(
        f"   Redis refusing connections: the lookup that finds it down took {down['first_ms']:.1f} ms, "
        f"the next {down['next_ms']:.2f} ms (L3 skipped for {Settings().redis_retry_after_s} s)"
    )


def print_stampede(result: dict[str, Any]) -> None:
    print(
        f"5. Stampede: {result['processes']} processes x {result['tasks_per_process']} concurrent identical "
        f"lookups, released by a Barrier; simulated model call {result['model_latency_ms']:.0f} ms"
    )
    for i, row in enumerate(result["rounds"]):
        print(
            f"   round {i}: computations {row['computations']} ({verdict(row['computations'] == 1)}); "
            f"single-flight {row['single_flight']}, waited on the lock {row['waited_on_lock']}, "
            f"L3 hit without waiting {row['l3_hit_without_waiting']}, other {row['other']}"
        )
        print(
            f"   {'':<9}release spread {row['release_spread_ms']:.1f} ms, slowest process "
            f"{row['slowest_ms']:.0f} ms, L3 unavailable {row['l3_unavailable']}"
        )


def print_report(results: dict[str, Any]) -> None:
    machine = results["machine"]
    print(
        f"\nAether cache bench at {results['code']}: {machine['cpus']} x {machine['cpu_model']}, "
        f"{machine['memory_gib']} GiB, CPython {machine['python']}, Redis {results['redis']['version']} "
        f"(parser: {results['redis']['client_parser']}), {results['seconds']} s\n"
    )
    for printer, key in (
        (print_encoding, "encoding"),
        (print_l1, "l1"),
        (print_l3, "l3"),
        (print_hit_rate, "hit_rate"),
        (print_stampede, "stampede"),
    ):
        printer(results[key])
        print()
    print(f"written to {RESULTS.relative_to(ROOT)}")


def main() -> None:
    started = time.perf_counter()
    sync = connect()
    logger.setLevel("ERROR")  # Redis incidents are counted from RedisTier.incidents instead
    results: dict[str, Any] = environment(sync)
    results["encoding"] = measure_encoding()
    with emf_to_devnull():
        results["l1"] = asyncio.run(measure_l1())
        results["l3"] = asyncio.run(measure_l3(sync))
        results["hit_rate"] = asyncio.run(measure_hit_rate())
    results["stampede"] = measure_stampede(sync)
    results["seconds"] = round(time.perf_counter() - started, 1)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    print_report(results)


if __name__ == "__main__":
    main()
