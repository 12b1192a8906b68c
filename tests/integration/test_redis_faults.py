"""Redis down or slow: answers keep coming from memory and the model, one incident, recovery."""

import asyncio
import json
import socket
from collections.abc import Iterator
from dataclasses import replace

import pytest
from redis import Redis as SyncRedis
from redis.asyncio import Redis

import aether.cache
from aether import clients
from aether.cache.redis_tier import RedisTier
from aether.cache.tiered import TieredCache
from aether.settings import Settings
from aether.telemetry import flush_metrics
from tests.helpers import event, function, invoke, invoke_raw, reset_process, run, start_redis_server


def test_redis_stopped_then_restarted_serves_throughout_with_one_incident(caplog, capfd):
    process, url = start_redis_server()
    port = int(url.rsplit(":", 1)[1].split("/")[0])

    async def scenario() -> tuple[int, list[str]]:
        client = Redis.from_url(url, socket_timeout=0.05, socket_connect_timeout=0.05)
        cache = TieredCache(replace(Settings(), redis_retry_after_s=0), redis=lambda: client)
        calls: list[str] = []

        async def compute(name: str) -> bytes:
            calls.append(name)
            return name.encode()

        await cache.get_or_compute("u", "before", lambda: compute("before"), ttl_s=60, tiers=("l2", "l3"))
        process.terminate()
        process.wait(10)
        # Redis is gone: ten new questions and a repeated one are all answered
        for i in range(10):
            lookup = await cache.get_or_compute("u", f"q{i}", lambda i=i: compute(f"q{i}"), ttl_s=60)
            assert lookup.value == f"q{i}".encode()
        repeated = await cache.get_or_compute(
            "u", "before", lambda: compute("again"), ttl_s=60, tiers=("l2", "l3")
        )
        assert (repeated.value, repeated.tier) == (b"before", "l2")
        incidents_while_down = cache.l3.incidents
        # Redis comes back on the same address: L3 is used again without any restart of ours
        restarted, _ = start_redis_server(port)
        try:
            await cache.get_or_compute("u", "after", lambda: compute("after"), ttl_s=60, tiers=("l3",))
            stored = SyncRedis.from_url(url).keys("aether:{u}:v*:after")
        finally:
            restarted.terminate()
            restarted.wait(10)
        await client.aclose()
        assert stored, "the value computed after recovery was written to Redis"
        return incidents_while_down, calls

    flush_metrics("test")
    capfd.readouterr()
    incidents, calls = run(scenario)
    flush_metrics("test")  # as the handler does at the end of an invocation
    documents = [
        json.loads(line) for line in capfd.readouterr().out.splitlines() if line.startswith('{"_aws"')
    ]
    (emf,) = [d for d in documents if "RedisIncidents" in d]
    assert incidents == 1
    assert calls == ["before", *(f"q{i}" for i in range(10)), "after"]
    assert emf["RedisIncidents"] == [1.0]
    messages = [record.getMessage() for record in caplog.records]
    assert messages.count("redis unavailable; serving without L3") == 1
    assert messages.count("redis available again") == 1


@pytest.fixture
def black_hole_redis(settings_env: pytest.MonkeyPatch) -> Iterator[None]:
    """Point the handlers' Redis at a socket that accepts connections and never answers."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    function("chat")  # the environment's event loop exists before clients are dropped
    loop = asyncio.get_event_loop()
    loop.run_until_complete(clients.close_all())
    settings_env.setenv("REDIS_URL", f"redis://127.0.0.1:{listener.getsockname()[1]}/0")
    reset_process()
    yield
    loop.run_until_complete(clients.close_all())
    reset_process()
    listener.close()


def test_chat_keeps_answering_when_redis_hangs(model, user, black_hole_redis):
    question = {"message": "is redis needed?"}
    status, first = invoke("chat", event("POST", "/chat/optimized", question, sub=user))
    assert status == 200, first
    assert first["cached"] is False
    status, second = invoke("chat", event("POST", "/chat/optimized", question, sub=user))
    assert status == 200
    assert (second["cached"], second["cache_tier"]) == (True, "l2")
    assert aether.cache.get_cache().l3.incidents == 1


def test_a_pool_with_no_free_connection_fails_that_call_only_and_redis_stays_in_use(settings_env):
    # Given an environment whose one Redis connection is taken
    function("chat")
    loop = asyncio.get_event_loop()
    loop.run_until_complete(clients.close_all())
    settings_env.setenv("REDIS_MAX_CONNECTIONS", "1")
    settings_env.setenv("REDIS_POOL_WAIT_MS", "20")
    reset_process()
    tier = RedisTier(clients.redis, retry_after_s=60)

    async def scenario() -> tuple[object, bool, object]:
        pool = clients.redis().connection_pool
        taken = await pool.get_connection()
        waited = await tier.call(lambda redis: redis.ping())  # no connection frees up in 20 ms
        await pool.release(taken)
        return waited, tier.available, await tier.call(lambda redis: redis.ping())

    try:
        waited, available, after = loop.run_until_complete(scenario())
    finally:
        loop.run_until_complete(clients.close_all())
        reset_process()
    # Then that call fails alone: Redis is not marked down, and the next call uses it
    assert waited is None and available is True and after is True


def test_the_dashboard_while_redis_hangs_is_a_503_that_says_retry(black_hole_redis):
    response = invoke_raw("dashboard", event("GET", "/performance/dashboard", groups=["aether-admins"]))
    assert response["statusCode"] == 503
    assert json.loads(response["body"])["error"]["message"].startswith("the live figures cannot be read")
    assert response["headers"]["retry-after"] == "5"
