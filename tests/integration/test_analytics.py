"""The analytics function through its real Lambda handler: figures, isolation, bounds, cache."""

import asyncio
from collections.abc import Iterator
from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pymongo import AsyncMongoClient, monitoring

from aether import clients
from aether.cache.tiered import TieredCache
from aether.llm.catalog import MODELS, TIERS
from aether.store.usage import UsageRecord
from aether_local.model_server import Reply
from tests.helpers import event, function, invoke, reset_process

SMALL, LARGE = TIERS["small"][0], TIERS["large"][0]


def usage(
    user_id: str,
    ts: datetime,
    request_id: str,
    agent: str,
    model: str,
    *,
    tokens: tuple[int, int] = (0, 0),
    cost: float = 0.0,
    latency: float = 0.0,
    hit: str | None = None,
    baseline: float = 0.0,
    saved: float = 0.0,
    task: str | None = None,
) -> dict[str, Any]:
    """A usage document as `store.usage` writes it."""
    record = UsageRecord(
        user_id=user_id,
        endpoint="chat/optimized",
        agent=agent,
        model=model,
        prompt_tokens=tokens[0],
        completion_tokens=tokens[1],
        cost_usd=cost,
        latency_ms=latency,
        request_id=request_id,
        cache_tier=hit,
        tier=MODELS[model].tier,
        baseline_cost_usd=baseline,
        saved_cost_usd=saved,
        task=task,
    )
    return {**asdict(record), "ts": ts}


def analytics(user: str, query: str = "") -> tuple[int, Any]:
    return invoke("analytics", event("GET", "/analytics/user", sub=user, query=query))


def figures(requests, model_calls, cache_hits, rate, prompt, completion, cost, avg, p95) -> dict[str, Any]:
    return {
        "requests": requests,
        "model_calls": model_calls,
        "cache_hits": cache_hits,
        "cache_hit_rate": rate,
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "cost_usd": cost,
        "avg_latency_ms": avg,
        "p95_latency_ms": p95,
    }


def test_figures_by_day_model_agent_task_and_tier_with_cost_analysis_and_savings(db, user):
    # Given two days of usage: three chat requests today (one answered from the cache), one
    # multi-agent request yesterday (two records, one request id), one record older than the
    # period, and another user's record
    now = datetime.now(UTC)
    prev = now - timedelta(days=1)  # yesterday
    db.usage.insert_many(
        [
            usage(
                user,
                now,
                "a",
                "dev",
                SMALL,
                tokens=(100, 50),
                cost=0.01,
                latency=100,
                baseline=0.05,
                task="code",
            ),
            usage(
                user,
                now,
                "b",
                "dev",
                LARGE,
                tokens=(200, 100),
                cost=0.04,
                latency=300,
                baseline=0.04,
                task="code",
            ),
            usage(
                user, now, "c", "dev", SMALL, latency=10, hit="l3", baseline=0.05, saved=0.01, task="writing"
            ),
            usage(
                user,
                prev,
                "d",
                "sage",
                LARGE,
                tokens=(300, 200),
                cost=0.06,
                latency=400,
                baseline=0.06,
                task="math",
            ),
            usage(
                user,
                prev,
                "d",
                "luna",
                SMALL,
                tokens=(50, 20),
                cost=0.002,
                latency=200,
                baseline=0.02,
                task="math",
            ),
            usage(user, now - timedelta(days=40), "old", "dev", LARGE, tokens=(9, 9), cost=1.0, latency=5000),
            usage(user + "-other", now, "x", "dev", LARGE, tokens=(999, 999), cost=9.0, latency=9000),
        ]
    )
    # When the user asks for the default period (30 days)
    status, body = analytics(user)
    # Then every figure is exact: requests are request ids, model calls and cache hits are records
    assert status == 200, body
    assert body["user_id"] == user and body["days"] == 30 and body["cached"] is False
    assert body["since"].startswith((now.date() - timedelta(days=29)).isoformat() + "T00:00:00")
    assert body["summary"] == figures(4, 4, 1, 0.2, 650, 370, 0.112, 202.0, 400.0)
    assert body["by_day"] == [
        {"day": prev.date().isoformat(), **figures(1, 2, 0, 0.0, 350, 220, 0.062, 300.0, 400.0)},
        {"day": now.date().isoformat(), **figures(3, 2, 1, 0.3333, 300, 150, 0.05, 136.67, 300.0)},
    ]
    assert body["by_model"] == [  # costliest first
        {"model": LARGE, "tier": "large", **figures(2, 2, 0, 0.0, 500, 300, 0.1, 350.0, 400.0)},
        {"model": SMALL, "tier": "small", **figures(3, 2, 1, 0.3333, 150, 70, 0.012, 103.33, 200.0)},
    ]
    assert body["by_agent"] == [
        {"agent": "sage", **figures(1, 1, 0, 0.0, 300, 200, 0.06, 400.0, 400.0)},
        {"agent": "dev", **figures(3, 2, 1, 0.3333, 300, 150, 0.05, 136.67, 300.0)},
        {"agent": "luna", **figures(1, 1, 0, 0.0, 50, 20, 0.002, 200.0, 200.0)},
    ]
    # And by the task kind the router saw, and by tier, costliest first
    assert body["by_task"] == [
        {"task": "math", **figures(1, 2, 0, 0.0, 350, 220, 0.062, 300.0, 400.0)},
        {"task": "code", **figures(2, 2, 0, 0.0, 300, 150, 0.05, 200.0, 300.0)},
        {"task": "writing", **figures(1, 0, 1, 1.0, 0, 0, 0.0, 10.0, 10.0)},
    ]
    assert [{k: v for k, v in t.items() if k != "tier"} for t in body["by_tier"]] == [
        {k: v for k, v in m.items() if k not in {"model", "tier"}} for m in body["by_model"]
    ] and [t["tier"] for t in body["by_tier"]] == ["large", "small"]
    # And the cost analysis names the large tier's share and the costliest agent, with their figures
    analysis = body["cost_analysis"]
    assert (analysis["large_tier_cost_usd"], analysis["large_tier_cost_share"]) == (0.1, 0.8929)
    assert analysis["most_expensive_model"] == {"name": LARGE, "cost_usd": 0.1, "share": 0.8929}
    assert analysis["most_expensive_agent"] == {"name": "sage", "cost_usd": 0.06, "share": 0.5357}
    rules = [(r["rule"], r["figure"], r["threshold"]) for r in analysis["recommendations"]]
    assert rules == [("large_tier_cost_share", 0.8929, 0.5), ("agent_cost_share", 0.5357, 0.5)]
    assert analysis["recommendations"][0]["message"].startswith("89% of your cost ($0.100000)")
    # And the savings ledger splits baseline - cost into routing and cache
    assert body["savings"] == {
        "baseline_cost_usd": 0.22,
        "cost_usd": 0.112,
        "saved_usd": 0.108,
        "saved_by_routing_usd": 0.098,
        "saved_by_cache_usd": 0.01,
    }
    # And the period follows `days`: today only, or far enough back to reach the old record
    _, today = analytics(user, "days=1")
    assert [d["day"] for d in today["by_day"]] == [now.date().isoformat()]
    assert today["summary"]["requests"] == 3
    _, sixty = analytics(user, "days=60")
    assert sixty["summary"]["requests"] == 5 and sixty["summary"]["cost_usd"] == 1.112


def test_every_breakdown_adds_up_to_the_summary(db, user):
    # Given a multi-agent request across two models and two agents, chat requests, a cache hit
    now = datetime.now(UTC)
    db.usage.insert_many(
        [
            usage(user, now, "m", "atlas", LARGE, tokens=(300, 120), cost=0.03, latency=900, task="design"),
            usage(user, now, "m", "dev", SMALL, tokens=(200, 80), cost=0.002, latency=200, task="code"),
            usage(user, now, "m", "sage", LARGE, tokens=(500, 60), cost=0.02, latency=700, task="planning"),
            usage(user, now, "x", "dev", SMALL, tokens=(90, 30), cost=0.001, latency=120, task="code"),
            usage(user, now, "y", "quinn", SMALL, latency=5, hit="l2", task="testing"),
        ]
    )
    status, body = analytics(user)
    assert status == 200, body
    summary = body["summary"]
    assert summary["requests"] == 3
    additive = ("model_calls", "cache_hits", "prompt_tokens", "completion_tokens", "cost_usd")
    for breakdown in ("by_day", "by_model", "by_agent", "by_task", "by_tier"):
        for name in additive:
            total = sum(group[name] for group in body[breakdown])
            assert total == pytest.approx(summary[name]), (breakdown, name)
    # A request counts once in each group it touched: per day it adds up, per model it may not.
    assert sum(day["requests"] for day in body["by_day"]) == summary["requests"]
    assert sum(model["requests"] for model in body["by_model"]) == 4  # "m" used both models


def test_another_users_usage_is_never_counted(db, user):
    now = datetime.now(UTC)
    db.usage.insert_many(
        [
            usage(user, now, "mine", "dev", SMALL, tokens=(10, 5), cost=0.001, latency=50),
            usage(user + "-b", now, "theirs", "dev", LARGE, tokens=(500, 500), cost=0.5, latency=900),
        ]
    )
    # A user id in the query string is ignored: the caller comes from the authorizer's claims
    status, body = analytics(user, f"days=30&user_id={user}-b")
    assert status == 200, body
    assert body["user_id"] == user
    assert body["summary"] == figures(1, 1, 0, 0.0, 10, 5, 0.001, 50.0, 50.0)
    assert [m["model"] for m in body["by_model"]] == [SMALL]


def test_p95_latency_is_the_nearest_rank_of_a_known_sample(db, user):
    # Given 20 model calls taking 10, 20, ..., 200 ms, on the small tier, by one agent
    now = datetime.now(UTC)
    db.usage.insert_many(
        [usage(user, now, f"r{i}", "dev", SMALL, cost=0.001, latency=10 * i) for i in range(1, 21)]
    )
    status, body = analytics(user)
    assert status == 200, body
    # Then p95 is the 19th value (not the maximum) and the average is 105 ms
    assert (body["summary"]["p95_latency_ms"], body["summary"]["avg_latency_ms"]) == (190.0, 105.0)
    # And with twenty answers and none from the cache, the low hit rate is the only recommendation
    (recommendation,) = body["cost_analysis"]["recommendations"]
    assert (recommendation["rule"], recommendation["figure"]) == ("low_cache_hit_rate", 0.0)
    assert "Only 0% of your 20 answers came from the cache" in recommendation["message"]


def test_a_user_without_usage_gets_zeros_and_empty_lists(user):
    status, body = analytics(user)
    assert status == 200, body
    assert body["summary"] == figures(0, 0, 0, 0.0, 0, 0, 0.0, 0.0, 0.0)
    assert (body["by_day"], body["by_model"], body["by_agent"], body["by_task"], body["by_tier"]) == ([],) * 5
    assert body["cost_analysis"] == {
        "large_tier_cost_usd": 0.0,
        "large_tier_cost_share": 0.0,
        "most_expensive_model": None,
        "most_expensive_agent": None,
        "recommendations": [],
    }
    assert set(body["savings"].values()) == {0.0}


@pytest.mark.parametrize("days", ["0", "366", "-1", "abc", "1.5"])
def test_days_out_of_range_or_not_an_integer_is_422(user, days):
    status, body = analytics(user, f"days={days}")
    assert status == 422
    assert set(body["error"]) == {"code", "message", "request_id"}
    assert body["error"]["code"] == "invalid_input" and "days" in body["error"]["message"]


@pytest.mark.parametrize("days", ["1", "365"])
def test_days_bounds_are_accepted(user, days):
    status, body = analytics(user, f"days={days}")
    assert (status, body["days"]) == (200, int(days))


def test_analytics_need_a_caller():
    status, body = invoke("analytics", event("GET", "/analytics/user", sub=None))
    assert (status, body["error"]["code"]) == (401, "unauthorized")


class UsageAggregates(monitoring.CommandListener):
    """Counts the analytics' `aggregate` commands (a $facet) sent to the `usage` collection (the
    budgets read the spend with another aggregate)."""

    def __init__(self) -> None:
        self.count = 0

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        command = event.command
        if event.command_name == "aggregate" and command["aggregate"] == "usage":
            self.count += any("$facet" in stage for stage in command["pipeline"])

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        pass

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass


@pytest.fixture
def aggregates(settings_env: pytest.MonkeyPatch, mongo_url: str) -> Iterator[UsageAggregates]:
    """The handlers' Mongo client, watched; and namespace versions re-read on every lookup.

    Chat and analytics share this process's cache, while on AWS they are separate environments:
    with CACHE_VERSION_TTL_MS=0 the analytics cache re-reads its namespace version from Redis on
    every lookup, as another environment does once the version TTL has passed.
    """
    settings_env.setenv("CACHE_VERSION_TTL_MS", "0")
    reset_process()
    function("analytics")  # the environment's event loop exists before the client is made
    counter = UsageAggregates()
    client: AsyncMongoClient = AsyncMongoClient(mongo_url, event_listeners=[counter])
    settings_env.setattr(clients, "_mongo", client)
    yield counter
    asyncio.get_event_loop().run_until_complete(client.close())
    reset_process()


def test_cached_until_the_users_usage_changes(model, db, redis_sync, user, aggregates):
    # Given one usage record
    db.usage.insert_one(usage(user, datetime.now(UTC), "seed", "dev", SMALL, cost=0.001, latency=40))
    # When the user asks twice
    _, first = analytics(user)
    _, second = analytics(user)
    # Then one aggregation answered both: the second came from the cache
    assert (first["cached"], second["cached"]) == (False, True)
    assert aggregates.count == 1
    assert second == {**first, "cached": True}
    # And another period is another entry
    _, week = analytics(user, "days=7")
    assert week["cached"] is False and aggregates.count == 2
    # When the user chats (a new usage record; the request's telemetry bumps the namespace)
    model.script(Reply(content="ok", prompt_tokens=30, completion_tokens=10))
    status, answer = invoke("chat", event("POST", "/chat/optimized", {"message": "count me"}, sub=user))
    assert status == 200, answer
    assert redis_sync.get(TieredCache.version_key(f"analytics:{user}")) == b"1"
    # Then the next analytics are computed again and include the new request
    _, third = analytics(user)
    assert third["cached"] is False and aggregates.count == 3
    assert (third["summary"]["requests"], third["summary"]["prompt_tokens"]) == (2, 30)
    assert third["summary"]["cost_usd"] == round(0.001 + answer["cost_usd"], 10)
