"""The tiered cache against a real Redis: tiers, promotion, versioned invalidation, no stampede."""

import asyncio
import uuid
from dataclasses import replace
from typing import Any

import pytest
from redis.asyncio import Redis

from aether.cache.tiered import TieredCache
from aether.settings import Settings
from tests.helpers import run


class Environment:
    """One simulated Lambda execution environment: its own cache and Redis connection."""

    def __init__(self, redis_url: str, **overrides: Any) -> None:
        self.redis = Redis.from_url(redis_url)
        settings = replace(Settings(), **{"cache_version_ttl_ms": 0, **overrides})
        self.cache = TieredCache(settings, redis=lambda: self.redis)
        self.calls = 0
        self.computing = asyncio.Event()

    async def compute(self, value: bytes = b"answer", gate: asyncio.Event | None = None) -> bytes:
        self.calls += 1
        self.computing.set()
        if gate is not None:
            await gate.wait()
        return value


@pytest.fixture
def ns() -> str:
    return f"user-{uuid.uuid4().hex[:8]}"


def test_miss_computes_then_memory_answers_and_another_environment_reads_l3(redis_url, ns):
    async def scenario() -> None:
        a, b = Environment(redis_url), Environment(redis_url)
        first = await a.cache.get_or_compute(ns, "q1", a.compute, ttl_s=60, tiers=("l2", "l3"))
        assert (first.value, first.tier, a.calls) == (b"answer", None, 1)
        again = await a.cache.get_or_compute(ns, "q1", a.compute, ttl_s=60, tiers=("l2", "l3"))
        assert (again.tier, a.calls) == ("l3", 1)  # version TTL 0: every read goes to Redis first
        other = await b.cache.get_or_compute(ns, "q1", b.compute, ttl_s=60, tiers=("l2", "l3"))
        assert (other.value, other.tier, b.calls) == (b"answer", "l3", 0)
        assert b.cache.l2.get(next(iter(b.cache.l2._data))) == b"answer"  # promoted into L2

    run(scenario)


def test_memory_hit_needs_no_redis_while_the_version_is_fresh(redis_url, ns):
    async def scenario() -> None:
        env = Environment(redis_url, cache_version_ttl_ms=60_000)
        await env.cache.get_or_compute(ns, "q", env.compute, ttl_s=60, tiers=("l1", "l3"))
        await env.redis.aclose()  # any Redis call would now fail
        hit = await env.cache.get_or_compute(ns, "q", env.compute, ttl_s=60, tiers=("l1", "l3"))
        assert (hit.tier, env.calls) == ("l1", 1)
        assert env.cache.l3.incidents == 0

    run(scenario)


def test_clear_in_one_environment_makes_entries_unreachable_in_another(redis_url, ns):
    async def scenario() -> None:
        a, b = Environment(redis_url), Environment(redis_url)
        await a.cache.get_or_compute(ns, "q", a.compute, ttl_s=60)
        await b.cache.clear(ns)
        after = await a.cache.get_or_compute(ns, "q", lambda: a.compute(b"fresh"), ttl_s=60)
        assert (after.value, after.tier, a.calls) == (b"fresh", None, 2)

    run(scenario)


def test_fifty_concurrent_identical_misses_make_one_computation(redis_url, ns):
    async def scenario() -> None:
        env = Environment(redis_url)
        gate = asyncio.Event()
        tasks = [
            asyncio.create_task(
                env.cache.get_or_compute(ns, "same", lambda: env.compute(gate=gate), ttl_s=60)
            )
            for _ in range(50)
        ]
        await env.computing.wait()  # the other 49 ran (in creation order) while the first awaited Redis
        gate.set()
        results = await asyncio.gather(*tasks)
        assert env.calls == 1
        assert {r.value for r in results} == {b"answer"}
        assert sorted(r.tier or "computed" for r in results).count("single_flight") == 49

    run(scenario)


def test_across_environments_the_lock_holder_computes_and_the_other_waits(redis_url, ns):
    async def scenario() -> None:
        a, b = Environment(redis_url, cache_lock_poll_ms=5), Environment(redis_url, cache_lock_poll_ms=5)
        gate = asyncio.Event()
        waiting = asyncio.Event()
        wait_for_holder = b.cache._wait_for_holder

        async def observed_wait(*args: Any) -> bytes | None:
            waiting.set()
            return await wait_for_holder(*args)

        b.cache._wait_for_holder = observed_wait  # type: ignore[method-assign]
        holder = asyncio.create_task(a.cache.get_or_compute(ns, "q", lambda: a.compute(gate=gate), ttl_s=60))
        await a.computing.wait()  # a holds the lock and is computing
        waiter = asyncio.create_task(b.cache.get_or_compute(ns, "q", b.compute, ttl_s=60))
        await waiting.wait()  # b found the lock taken and waits for a's value
        gate.set()
        first, second = await asyncio.gather(holder, waiter)
        assert (a.calls, b.calls) == (1, 0)
        assert (first.tier, second.tier, second.value) == (None, "l3", b"answer")
        assert b.cache.counters["l3_lock_waited"] == 1

    run(scenario)


def test_waiter_computes_itself_when_the_lock_holder_dies(redis_url, ns):
    async def scenario() -> None:
        env = Environment(redis_url, cache_lock_ms=200, cache_lock_poll_ms=5)
        key = f"aether:{{{ns}}}:v0:q"
        await env.redis.set(f"{key}:lock", "dead-holder", px=50)  # a holder that never writes
        result = await env.cache.get_or_compute(ns, "q", env.compute, ttl_s=60)
        assert (result.tier, env.calls) == (None, 1)

    run(scenario)


def test_memory_only_lookups_never_ask_redis_and_hit_l1():
    async def scenario() -> None:
        cache = TieredCache(Settings(), redis=lambda: None)
        calls: list[int] = []

        async def compute() -> bytes:
            calls.append(1)
            return b"v"

        first = await cache.get_or_compute("shared", "k", compute, ttl_s=60, tiers=("l1",))
        second = await cache.get_or_compute("shared", "k", compute, ttl_s=60, tiers=("l1",))
        assert (first.tier, second.tier, len(calls)) == (None, "l1", 1)
        assert cache.counters["l3_skipped"] == 1  # only the miss went past memory

    run(scenario)


def test_promotion_from_l2_to_l1_keeps_the_remaining_ttl(redis_url, ns):
    async def scenario() -> None:
        env = Environment(redis_url, cache_version_ttl_ms=60_000)
        await env.cache.get_or_compute(ns, "q", env.compute, ttl_s=2, tiers=("l2", "l3"))
        hit = await env.cache.get_or_compute(ns, "q", env.compute, ttl_s=600, tiers=("l1", "l2", "l3"))
        assert hit.tier == "l2"
        (key,) = env.cache.l1._data
        left, _ = env.cache.l1.get_entry(key)
        assert left <= 2

    run(scenario)
