"""The model client against the scripted OpenAI-compatible server, through the chat handler."""

import time
from dataclasses import replace

import pytest
from redis.asyncio import Redis

from aether.agents.router import route
from aether.cache.redis_tier import RedisTier
from aether.llm.catalog import TIERS
from aether.llm.ratelimits import RateLimits
from aether.settings import Settings
from aether_local.model_server import Reply
from tests.helpers import event, invoke, reset_process, run

SMALL = TIERS["small"]
NEAR_LIMIT = {
    "x-ratelimit-limit-requests": "1000",
    "x-ratelimit-remaining-requests": "3",
    "x-ratelimit-limit-tokens": "60000",
    "x-ratelimit-remaining-tokens": "59000",
    "x-ratelimit-reset-requests": "1m30s",
    "x-ratelimit-reset-tokens": "1s",
}


@pytest.fixture
def fast_backoff(settings_env):
    settings_env.setenv("LLM_BACKOFF_BASE_MS", "1")
    reset_process()


def ask(user: str, message: str, **extra: object) -> tuple[int, dict]:
    return invoke("chat", event("POST", "/chat/quick", {"message": message, **extra}, sub=user))


def test_429_with_retry_after_is_retried_on_the_same_model(model, user):
    model.script(Reply(status=429, headers={"retry-after": "0.05"}), Reply(content="after the wait"))
    status, body = ask(user, "rate limited once")
    assert status == 200, body
    assert body["content"] == "after the wait"
    assert [r["model"] for r in model.requests] == [SMALL[0], SMALL[0]]


def test_429_with_a_long_retry_after_falls_back_to_the_next_model(model, user):
    model.script(Reply(status=429, headers={"retry-after": "30"}), Reply(content="from the fallback"))
    status, body = ask(user, "rate limited for long")
    assert status == 200, body
    assert body["model"] == SMALL[1]
    assert [r["model"] for r in model.requests] == [SMALL[0], SMALL[1]]


def test_server_errors_are_retried_then_fall_back_and_the_answer_says_so(model, user, fast_backoff):
    model.script(Reply(status=500), Reply(status=503), Reply(content="second model"))
    status, body = invoke(
        "chat", event("POST", "/chat/optimized", {"message": "what is a closure?", "agent": "luna"}, sub=user)
    )
    assert status == 200, body
    chain = TIERS[route("what is a closure?").tier]
    assert [r["model"] for r in model.requests] == [chain[0], chain[0], chain[1]]
    assert body["model"] == chain[1]
    assert body["model_reason"].endswith(f"fell back to {chain[1]}")


def test_a_bad_request_is_not_retried_and_is_the_callers_400(model, user):
    model.script(Reply(status=400))
    status, body = ask(user, "provider says no")
    assert status == 400 and body["error"]["code"] == "model_refused"
    assert body["error"]["message"] == "the model refused the request: scripted status 400"
    assert len(model.requests) == 1
    model.script(Reply(status=401))  # Aether's own key: not the caller's fault
    assert ask(user, "provider says who?")[0] == 502


def test_a_pinned_model_has_no_fallback(model, user, fast_backoff):
    pinned = TIERS["large"][1]
    model.script(Reply(status=500), Reply(status=500))
    status, _ = invoke(
        "chat", event("POST", "/chat/optimized", {"message": "pinned", "model": pinned}, sub=user)
    )
    assert status == 502
    assert [r["model"] for r in model.requests] == [pinned, pinned]


def test_an_unknown_pinned_model_is_422(model, user):
    status, body = invoke(
        "chat", event("POST", "/chat/optimized", {"message": "x", "model": "gpt-9"}, sub=user)
    )
    assert status == 422
    assert "unknown model 'gpt-9'" in body["error"]["message"]
    assert model.requests == []


def test_a_model_near_its_limit_is_tried_last_by_the_next_request(model, user):
    model.script(Reply(content="first", headers=NEAR_LIMIT))
    ask(user, "first question")
    ask(user, "second question")
    assert [r["model"] for r in model.requests] == [SMALL[0], SMALL[1]]


def test_headroom_reaches_other_environments_through_redis(redis_url):
    async def scenario() -> tuple[tuple[str, ...], tuple[str, ...]]:
        settings = replace(Settings(), rate_limit_refresh_ms=0)
        clients = [Redis.from_url(redis_url), Redis.from_url(redis_url)]
        a, b = (RateLimits(RedisTier(lambda c=c: c), settings.rate_limit_refresh_ms / 1000) for c in clients)
        chain = ("model-x", "model-y")
        before = b.order(chain)
        await a.observe("model-x", NEAR_LIMIT)  # environment A learns model-x is nearly exhausted
        await b.refresh_if_due(chain)  # environment B reads the shared view
        after = b.order(chain)
        for client in clients:
            await client.delete("aether:ratelimit:model-x")
            await client.aclose()
        return before, after

    before, after = run(scenario)
    assert before == ("model-x", "model-y")
    assert after == ("model-y", "model-x")


def test_headroom_expires_with_the_window():
    from aether.llm.ratelimits import Headroom

    now = time.time()
    headroom = Headroom.from_headers(NEAR_LIMIT, now)
    assert headroom.near_limit(now)
    assert not headroom.near_limit(now + 91)  # x-ratelimit-reset-requests: 1m30s
