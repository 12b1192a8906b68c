"""Per-user rate limits and budgets (aether.quota) through the real handlers and services."""

import asyncio
import json
import time
from datetime import UTC, datetime

from aether import quota
from aether.core import Invocation
from aether.errors import TooManyRequests
from aether.http.auth import Principal, principal_from_claims
from aether.llm.catalog import TIERS
from aether.services.chat import ChatRequest, chat
from aether_local.model_server import Reply
from tests.helpers import event, function, invoke, invoke_raw, reset_process

LARGE = TIERS["large"][0]


def use_plans(settings_env, default: str, **plans: dict) -> None:
    settings_env.setenv("PLANS", json.dumps(plans))
    settings_env.setenv("DEFAULT_PLAN", default)
    reset_process()


def test_past_the_rate_a_429_says_which_limit_and_when_to_retry(settings_env, model, user):
    use_plans(settings_env, "tight", tight={"requests_per_minute": 3})
    statuses = []
    for i in range(4):
        response = invoke_raw("chat", event("POST", "/chat/quick", {"message": f"hello {i}"}, sub=user))
        statuses.append(response["statusCode"])
    assert statuses == [200, 200, 200, 429]
    body = json.loads(response["body"])
    assert body["error"]["code"] == "rate_limited"
    assert body["error"]["message"] == "rate limit: your plan allows 3 requests per minute"
    assert 1 <= int(response["headers"]["retry-after"]) <= 60
    # another user has a minute of their own
    assert invoke("chat", event("POST", "/chat/quick", {"message": "hi"}, sub=user + "-b"))[0] == 200


def test_an_answer_from_memory_is_counted_without_waiting_and_past_the_rate_the_next_is_refused(
    settings_env, model, user, redis_sync
):
    # Given a plan of three requests a minute and one question asked three times (one model call,
    # then two answers from this environment's memory)
    use_plans(settings_env, "tight", tight={"requests_per_minute": 3})
    ask = {"message": "the same question again"}
    statuses = [invoke("chat", event("POST", "/chat/optimized", ask, sub=user))[0] for _ in range(3)]
    assert statuses == [200, 200, 200] and len(model.requests) == 1
    # When it is asked a fourth time: from memory, so the rate is counted beside the final writes
    fourth = invoke_raw("chat", event("POST", "/chat/optimized", ask, sub=user))
    # Then that answer is given (no model call: at most one such answer per environment and
    # minute) but counted in Redis, and the next request here is refused without asking Redis,
    # as a whole answer, as a stream, and for a new question that would need the model
    assert fourth["statusCode"] == 200 and json.loads(fourth["body"])["cache_tier"] == "l2"
    tag = quota.keys_of(user, datetime.now(UTC)).held.removesuffix(":held")
    (counter,) = list(redis_sync.scan_iter(f"{tag}:rpm:*"))
    assert int(redis_sync.get(counter)) == 4
    refused = [
        invoke_raw("chat", event("POST", path, body, sub=user))
        for path, body in [
            ("/chat/optimized", ask),
            ("/chat/stream", ask),
            ("/chat/optimized", {"message": "a question nobody asked"}),
        ]
    ]
    assert [r["statusCode"] for r in refused] == [429, 429, 429]
    assert json.loads(refused[0]["body"])["error"]["code"] == "rate_limited"
    assert int(redis_sync.get(counter)) == 4 and len(model.requests) == 1


def test_the_plan_comes_from_the_token_and_unknown_plans_get_the_default(settings_env):
    use_plans(settings_env, "free", gold={"requests_per_minute": 500})
    assert (
        quota.plan_of(principal_from_claims({"sub": "a", "custom:plan": "gold"})).requests_per_minute == 500
    )
    assert quota.plan_of(principal_from_claims({"sub": "a", "custom:plan": "nope"})) == quota.PLANS["free"]
    assert quota.plan_of(principal_from_claims({"sub": "a"})) == quota.PLANS["free"]


def test_a_budget_refuses_a_call_whose_worst_case_does_not_fit(settings_env, model, user):
    use_plans(settings_env, "tiny", tiny={"usd_per_day": 0.0001})  # below one call's worst case
    status, body = invoke("chat", event("POST", "/chat/optimized", {"message": "Plan a sprint"}, sub=user))
    assert status == 429 and body["error"]["message"].startswith("daily budget: your plan allows $0.00")
    assert model.requests == []  # refused before the model was called
    use_plans(settings_env, "tiny", tiny={"usd_per_month": 0.0001})
    status, body = invoke("chat", event("POST", "/chat/optimized", {"message": "Plan a sprint"}, sub=user))
    assert status == 429 and body["error"]["message"].startswith("monthly budget")


def test_fifty_concurrent_requests_at_the_budget_edge_never_spend_past_it(settings_env, model, db, user):
    # Given a budget that fits a few reservations at a time, and answers that cost far less than
    # their worst case, so that more requests are admitted as earlier ones settle
    budget = 0.003
    use_plans(settings_env, "edge", edge={"usd_per_day": budget})
    # one Redis connection per request, as 50 environments would each have: the pool's bounded
    # wait (test_redis_faults) is not what this test is about, and on a slow machine it would answer 503
    settings_env.setenv("REDIS_MAX_CONNECTIONS", "50")
    settings_env.setenv("REDIS_POOL_WAIT_MS", "10000")
    reset_process()
    # (a provider counts at most one prompt token per byte: these prompts hold about 200)
    model.responder = lambda body: Reply(content="short answer", prompt_tokens=100, completion_tokens=50)
    principal = Principal(user, False)

    async def one(i: int) -> str:
        request = ChatRequest(message=f"Estimate task {i} of the release", agent="sage", model=LARGE)
        try:
            await chat(request, principal, Invocation(f"edge-{i}", time.monotonic() + 20))
        except TooManyRequests:
            return "refused"
        return "answered"

    async def fire() -> list[str]:
        return await asyncio.gather(*(one(i) for i in range(50)))

    # When 50 requests arrive at once
    function("chat")  # the environment's event loop, which the clients are bound to
    outcomes = asyncio.get_event_loop().run_until_complete(fire())

    # Then some are answered, the rest refused, and the money spent stays within the budget
    spent = sum(r["cost_usd"] for r in db.usage.find({"user_id": user}))
    answered = outcomes.count("answered")
    assert 0 < answered < 50
    assert answered == db.usage.count_documents({"user_id": user}) == len(model.requests)
    assert spent <= budget
    assert 50 * spent / answered > budget  # without the reservations all 50 would have passed it


def test_at_the_budget_edge_a_question_that_fits_only_its_routed_model_is_answered(settings_env, model, user):
    # Given a budget below the dearest model's worst case (what is reserved before routing, beside
    # the cache lookup) but above the small tier's, where the router sends this question
    use_plans(settings_env, "edge", edge={"usd_per_day": 0.0005})
    ask = {"message": "What time is it?"}
    # When it is asked, and then pinned to the large model
    status, body = invoke("chat", event("POST", "/chat/optimized", ask, sub=user))
    refused, _ = invoke("chat", event("POST", "/chat/optimized", {**ask, "model": LARGE}, sub=user))
    # Then the first is answered on the small tier, on a reservation made after routing
    assert status == 200 and body["tier"] == "small", body
    assert refused == 429 and len(model.requests) == 1
    # And an OpenAI client is told its quota is spent, as OpenAI tells it
    v1 = event("POST", "/x", {"model": LARGE, "messages": [{"role": "user", "content": "hi"}]}, sub=user)
    v1["rawPath"] = v1["requestContext"]["http"]["path"] = "/v1/chat/completions"
    v1["routeKey"] = v1["requestContext"]["routeKey"] = "POST /v1/chat/completions"
    status, body = invoke("chat", v1)
    assert status == 429 and body["error"]["type"] == body["error"]["code"] == "insufficient_quota"


def test_an_answer_from_the_cache_gives_back_the_reservation_made_beside_its_lookup(
    settings_env, model, user, redis_sync
):
    # Given a budget, and an answer in Redis that this environment's memory does not hold
    use_plans(settings_env, "capped", capped={"usd_per_day": 1.0})
    ask = {"message": "Which index fits this query?", "agent": "atlas"}
    assert invoke("chat", event("POST", "/chat/optimized", ask, sub=user))[1]["cached"] is False
    reset_process()  # a new environment: nothing in memory
    # When the question is asked again
    status, body = invoke("chat", event("POST", "/chat/optimized", ask, sub=user))
    # Then Redis answered it, and the reservation made in case the model had to be asked is given back
    assert status == 200 and body["cache_tier"] == "l3"
    held = quota.keys_of(user, datetime.now(UTC)).held
    assert redis_sync.zcard(held) == 0 and len(model.requests) == 1


def test_requests_reconciling_at_once_after_an_outage_drop_what_redis_missed_once(user, redis_sync):
    # Given reservations Redis did not answer for during an outage, now that it answers again
    held = quota.keys_of(user, datetime.now(UTC)).held
    redis_sync.zadd(held, {"a:1": 1, "b:2": 2, "c:3": 3})
    quota._unanswered[held] = {"a:1", "b:2"}

    async def at_once() -> None:
        await asyncio.gather(*(quota._reconcile_after_outage() for _ in range(3)))

    # When three requests of this environment reconcile at once (a KeyError was a 500 for two)
    function("chat")
    asyncio.get_event_loop().run_until_complete(at_once())
    # Then the missed reservations are dropped, once, and the rest left alone
    assert held not in quota._unanswered
    assert redis_sync.zrange(held, 0, -1) == [b"c:3"]
