"""Budgets under Redis and MongoDB faults, as they happen: Redis paused (every command times out),
Redis restarted empty, MongoDB gone. The spend is MongoDB's; no fault lets a caller past it."""

import asyncio
import json
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from redis import Redis

from aether import clients, quota
from aether.core import Principal
from aether.errors import ServiceUnavailable
from aether.store import usage
from aether_local.model_server import Reply
from aether_local.processes import RedisServer
from tests.helpers import event, free_port, function, invoke, reset_process

BUDGET = 0.0006  # a few quick answers: each costs 0.00009, its worst case about 0.0002
ANSWER = Reply(content="short answer", prompt_tokens=1000, completion_tokens=500)


class OwnRedis(RedisServer):
    """A redis-server of the test's own: it can be paused, resumed, restarted empty."""

    @property
    def client(self) -> Redis:
        return Redis(port=self.port, socket_timeout=2)


@pytest.fixture
def own_redis(settings_env: pytest.MonkeyPatch) -> Iterator[OwnRedis]:
    redis = OwnRedis()
    url = redis.url
    function("chat")  # the environment's event loop exists before clients are dropped
    loop = asyncio.get_event_loop()
    loop.run_until_complete(clients.close_all())
    settings_env.setenv("REDIS_URL", url)
    settings_env.setenv("REDIS_RETRY_AFTER_S", "0")  # back to Redis at once when it answers
    settings_env.setenv("PLANS", json.dumps({"small": {"usd_per_day": BUDGET}}))
    settings_env.setenv("DEFAULT_PLAN", "small")
    reset_process()
    yield redis
    redis.resume()
    loop.run_until_complete(clients.close_all())
    reset_process()
    redis.stop()


def ask(user: str, i: int) -> int:
    status, _ = invoke("chat", event("POST", "/chat/quick", {"message": f"question {i}"}, sub=user))
    return status


def spend_until_refused(user: str, limit: int = 20) -> list[int]:
    statuses = []
    for i in range(limit):
        statuses.append(ask(user, i))
        if statuses[-1] == 429:
            break
    return statuses


def mongo_nano(db, user: str) -> int:
    return sum(r["cost_nano"] for r in db.usage.find({"user_id": user}))


def redis_nano(redis: OwnRedis, user: str) -> int:
    return int(redis.client.hget(quota.keys_of(user, datetime.now(UTC)).day, "spent"))


def test_a_restart_that_empties_redis_forgives_nothing(model, db, user, own_redis):
    # Given a caller who spent their day's budget
    model.responder = lambda body: ANSWER
    statuses = spend_until_refused(user)
    assert statuses[-1] == 429 and 200 in statuses
    spent = mongo_nano(db, user)
    assert redis_nano(own_redis, user) == spent
    # When Redis restarts empty
    own_redis.restart_empty()
    calls = len(model.requests)
    # Then the caller is still refused: the spend is read back from MongoDB, with no model call
    assert ask(user, 100) == 429
    assert len(model.requests) == calls
    assert redis_nano(own_redis, user) == spent


def test_while_redis_is_paused_the_budget_holds_and_the_spend_is_charged_after(model, db, user, own_redis):
    # Given a caller with budget left, and Redis paused (every command times out)
    model.responder = lambda body: ANSWER
    assert ask(user, 0) == 200
    own_redis.pause()
    # When they keep asking: answered against MongoDB's spend until the budget is reached
    during = spend_until_refused(user)
    assert during[-1] == 429 and during.count(200) >= 1
    assert mongo_nano(db, user) <= quota.nano_usd(BUDGET)
    # And when Redis answers again, it learns what was spent meanwhile
    own_redis.resume()
    assert ask(user, 200) == 429
    assert redis_nano(own_redis, user) == mongo_nano(db, user)


def test_a_caller_redis_does_not_know_is_refused_while_mongodb_is_down(model, user, own_redis, settings_env):
    model.responder = lambda body: ANSWER
    assert ask(user, 0) == 200  # known to Redis: its spend is cached
    port = free_port()  # nothing listens there
    loop = asyncio.get_event_loop()
    loop.run_until_complete(clients.close_all())
    settings_env.setenv("MONGO_URL", f"mongodb://127.0.0.1:{port}/?serverSelectionTimeoutMS=300")
    settings_env.setenv("MONGO_TIMEOUT_MS", "300")
    reset_process()
    status, body = invoke("chat", event("POST", "/chat/quick", {"message": "new here"}, sub=user + "-new"))
    assert status == 503 and body["error"]["message"].startswith("budgets cannot be checked")
    assert ask(user, 1) == 200  # the known caller goes on, charged in Redis
    assert redis_nano(own_redis, user) > 0


def a_call(user: str, cost_usd: float) -> usage.UsageRecord:
    return usage.UsageRecord(user, "chat/quick", "sage", "m", 10, 10, cost_usd, 1.0, "r")


def test_a_call_in_flight_across_a_redis_restart_is_charged_once(db, user, own_redis, monkeypatch):
    # Given a call reserved in Redis, and Redis restarted empty while it runs
    principal = Principal(user, False)
    loop = asyncio.get_event_loop()
    reservation = loop.run_until_complete(quota.reserve(principal, 0.0002))
    own_redis.restart_empty()
    # When, between its record landing and its settlement, another environment's reservation
    # rebuilds the spend from MongoDB (the record in it)
    recorded = usage.record_many

    async def record_then_another_reservation(records: list[usage.UsageRecord]) -> None:
        await recorded(records)
        await quota.release(await quota.reserve(principal, 0.0002))

    monkeypatch.setattr(usage, "record_many", record_then_another_reservation)
    loop.run_until_complete(quota.charge(reservation, [a_call(user, 0.0001)]))
    monkeypatch.setattr(usage, "record_many", recorded)
    # Then the call is in Redis's spend once, not twice: a settlement Redis no longer holds adds
    # nothing, and the next reservation with nothing in flight rebuilds the spend exactly
    loop.run_until_complete(quota.release(loop.run_until_complete(quota.reserve(principal, 0.0002))))
    assert redis_nano(own_redis, user) == mongo_nano(db, user) == quota.nano_usd(0.0001)


def test_without_redis_an_environment_admits_one_call_per_user_at_a_time(db, user, own_redis):
    # Given an environment holding a reservation of the caller's, made through Redis
    principal = Principal(user, False)
    loop = asyncio.get_event_loop()
    first = loop.run_until_complete(quota.reserve(principal, BUDGET * 0.1))
    # When Redis stops answering and the caller asks again in the same environment
    own_redis.pause()
    # Then the second call waits its turn (503), however much budget MongoDB says is left
    with pytest.raises(ServiceUnavailable):
        loop.run_until_complete(quota.reserve(principal, BUDGET * 0.1))
    # and once the first is settled, the next is admitted against MongoDB's spend
    loop.run_until_complete(quota.release(first))
    second = loop.run_until_complete(quota.reserve(principal, BUDGET * 0.1))
    assert second.local
    loop.run_until_complete(quota.release(second))


def test_without_redis_concurrent_calls_of_one_user_in_one_environment_are_admitted_one_at_a_time(
    db, user, own_redis
):
    # Given Redis paused, and ten calls of one caller arriving at once in one environment
    principal = Principal(user, False)
    loop = asyncio.get_event_loop()
    own_redis.pause()

    async def at_once() -> list[object]:
        asked = [quota.reserve(principal, BUDGET * 0.01) for _ in range(10)]
        return await asyncio.gather(*asked, return_exceptions=True)

    outcomes = loop.run_until_complete(at_once())
    # Then one is admitted against MongoDB's spend, the others are told to retry
    admitted = [o for o in outcomes if isinstance(o, quota.Reservation)]
    refused = [o for o in outcomes if isinstance(o, ServiceUnavailable)]
    assert (len(admitted), len(refused)) == (1, 9)
    loop.run_until_complete(quota.release(admitted[0]))


def test_a_reservation_a_paused_redis_ran_without_answering_is_dropped_when_it_answers(user, own_redis):
    # Given Redis paused while a reservation is sent to it (the command waits in its socket)
    principal = Principal(user, False)
    loop = asyncio.get_event_loop()
    loop.run_until_complete(quota.release(loop.run_until_complete(quota.reserve(principal, 0.0001))))
    own_redis.pause()
    reservation = loop.run_until_complete(quota.reserve(principal, 0.0002))  # admitted without Redis
    assert reservation.local
    loop.run_until_complete(quota.release(reservation))
    # When Redis answers again, it runs the command it was sent: a reservation nobody will settle
    own_redis.resume()
    held = quota.keys_of(user, datetime.now(UTC)).held
    assert own_redis.client.zcard(held) == 1
    # Then the environment's next reservation first drops it
    loop.run_until_complete(quota.release(loop.run_until_complete(quota.reserve(principal, 0.0001))))
    assert own_redis.client.zcard(held) == 0


def test_a_settlement_redis_refused_is_charged_from_mongodb_and_its_reservation_dropped(db, user, own_redis):
    # Given a call reserved in Redis, which then refuses new connections (maxclients reached)
    principal = Principal(user, False)
    loop = asyncio.get_event_loop()
    reservation = loop.run_until_complete(quota.reserve(principal, 0.0002))
    admin = own_redis.client
    admin.config_set("maxclients", 1)
    admin.client_kill_filter(_type="normal", skipme=True)
    # When the call is charged: its record lands in MongoDB, its settlement is refused
    loop.run_until_complete(quota.charge(reservation, [a_call(user, 0.0001)]))
    held = quota.keys_of(user, datetime.now(UTC)).held
    assert admin.zcard(held) == 1
    # Then, once Redis takes connections again, the next reservation drops the stale one and
    # charges the call from MongoDB
    admin.config_set("maxclients", 10000)
    loop.run_until_complete(quota.release(loop.run_until_complete(quota.reserve(principal, 0.0001))))
    assert admin.zcard(held) == 0
    assert redis_nano(own_redis, user) == mongo_nano(db, user) == quota.nano_usd(0.0001)
