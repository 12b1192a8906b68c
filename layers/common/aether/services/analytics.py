"""The caller's own usage: figures by day, model, agent, task kind and tier, a cost analysis and a
savings ledger.

A request is a request id (a multi-agent request writes one usage record per agent call and one
for the synthesis, all with its request id); each record is either a model call or a cache hit.
The result is cached per user for ANALYTICS_CACHE_TTL_S in the namespace `analytics:<user>`,
whose version the telemetry pipeline bumps whenever that user's usage changes.
"""

from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import BaseModel

from aether.cache import get_cache
from aether.core import Principal
from aether.llm.catalog import TIERS
from aether.settings import get_settings
from aether.store.analytics import usage_groups

__all__ = ["UserAnalytics", "user_analytics"]

_DIGEST_VERSION = 2  # part of the cache digest: a change of the response's shape misses old entries

# Recommendation thresholds.
LARGE_TIER_SHARE = 0.5  # share of cost spent on the large tier
AGENT_COST_SHARE = 0.5  # share of cost spent by one agent, when several were used
LOW_CACHE_HIT_RATE = 0.1  # share of answers served from the cache...
MIN_ANSWERS_FOR_HIT_RATE = 10  # ...judged only after this many answers


class Figures(BaseModel):
    """A group's figures. Every count and sum but `requests` adds up across a breakdown to the
    summary's; `requests` counts a request once in each group it touched (a multi-agent request
    in each of its models and agents), and the latencies are per usage record, so a model's p95
    can be above the summary's."""

    requests: int  # distinct request ids
    model_calls: int  # usage records answered by a model
    cache_hits: int  # usage records answered from the cache
    cache_hit_rate: float  # cache_hits / (model_calls + cache_hits)
    prompt_tokens: int
    completion_tokens: int
    cost_usd: float
    avg_latency_ms: float  # per usage record
    p95_latency_ms: float


class DayFigures(Figures):
    day: str  # UTC, YYYY-MM-DD


class ModelFigures(Figures):
    model: str
    tier: str | None


class AgentFigures(Figures):
    agent: str


class TaskFigures(Figures):
    task: str | None  # the task kind the router saw (None: records written before it was kept)


class TierFigures(Figures):
    tier: str | None


class CostLeader(BaseModel):
    name: str
    cost_usd: float
    share: float  # of the period's cost


class Recommendation(BaseModel):
    rule: str
    figure: float  # the figure that triggered the rule
    threshold: float
    message: str


class CostAnalysis(BaseModel):
    large_tier_cost_usd: float
    large_tier_cost_share: float
    most_expensive_model: CostLeader | None
    most_expensive_agent: CostLeader | None
    recommendations: list[Recommendation]


class Savings(BaseModel):
    baseline_cost_usd: float  # the same requests on the large tier with no cache
    cost_usd: float  # what they cost
    saved_usd: float  # baseline - cost = saved_by_routing_usd + saved_by_cache_usd
    saved_by_routing_usd: float  # baseline - cost - saved_by_cache_usd
    saved_by_cache_usd: float  # what cache hits cost when they were computed


class UserAnalytics(BaseModel):
    user_id: str
    days: int
    since: datetime  # start of the period: midnight UTC, `days` - 1 days before today
    generated_at: datetime
    summary: Figures
    by_day: list[DayFigures]
    by_model: list[ModelFigures]
    by_agent: list[AgentFigures]
    by_task: list[TaskFigures]
    by_tier: list[TierFigures]
    cost_analysis: CostAnalysis
    savings: Savings
    cached: bool = False


async def user_analytics(principal: Principal, days: int) -> UserAnalytics:
    """The caller's analytics over the last `days` UTC days (today included), from the cache if fresh."""
    user_id = principal.user_id

    async def compute() -> bytes:
        return (await _compute(user_id, days)).model_dump_json().encode()

    lookup = await get_cache().get_or_compute(
        f"analytics:{user_id}",
        f"v{_DIGEST_VERSION}:days={days}",
        compute,
        ttl_s=get_settings().analytics_cache_ttl_s,
        tiers=("l2", "l3"),
    )
    answer = UserAnalytics.model_validate_json(lookup.value)
    answer.cached = lookup.tier is not None
    return answer


async def _compute(user_id: str, days: int) -> UserAnalytics:
    now = datetime.now(UTC)
    since = datetime.combine(now.date() - timedelta(days=days - 1), datetime.min.time(), UTC)
    groups = await usage_groups(user_id, since)
    totals = groups["summary"][0] if groups["summary"] else {}
    summary = Figures(**_figures(totals))
    by_model = [ModelFigures(model=g["_id"], tier=g["tier"], **_figures(g)) for g in groups["by_model"]]
    by_agent = [AgentFigures(agent=g["_id"], **_figures(g)) for g in groups["by_agent"]]
    return UserAnalytics(
        user_id=user_id,
        days=days,
        since=since,
        generated_at=now,
        summary=summary,
        by_day=[DayFigures(day=g["_id"], **_figures(g)) for g in groups["by_day"]],
        by_model=by_model,
        by_agent=by_agent,
        by_task=[TaskFigures(task=g["_id"], **_figures(g)) for g in groups["by_task"]],
        by_tier=[TierFigures(tier=g["_id"], **_figures(g)) for g in groups["by_tier"]],
        cost_analysis=_cost_analysis(summary, by_model, by_agent),
        savings=_savings(totals),
    )


def _usd(value: float) -> float:
    return round(value, 10)  # sums of floats, without their last-digit noise


def _share(part: float, whole: float) -> float:
    return round(part / whole, 4) if whole else 0.0


def _figures(group: dict[str, Any]) -> dict[str, Any]:
    """A group of the aggregation as Figures' fields; an empty group is all zeros."""
    records = group.get("records", 0)
    hits = group.get("cache_hits", 0)
    return {
        "requests": group.get("requests", 0),
        "model_calls": records - hits,
        "cache_hits": hits,
        "cache_hit_rate": _share(hits, records),
        "prompt_tokens": group.get("prompt_tokens", 0),
        "completion_tokens": group.get("completion_tokens", 0),
        "cost_usd": _usd(group.get("cost_usd", 0.0)),
        "avg_latency_ms": round(group.get("avg_latency_ms") or 0.0, 2),
        "p95_latency_ms": round(group.get("p95_latency_ms") or 0.0, 2),
    }


def _leader(named: list[tuple[str, float]], total: float) -> CostLeader | None:
    """The costliest of (name, cost) pairs sorted by cost, highest first; None if nothing cost anything."""
    if not named or named[0][1] <= 0:
        return None
    name, cost = named[0]
    return CostLeader(name=name, cost_usd=cost, share=_share(cost, total))


def _cost_analysis(
    summary: Figures, by_model: list[ModelFigures], by_agent: list[AgentFigures]
) -> CostAnalysis:
    total = summary.cost_usd
    large_cost = _usd(sum(m.cost_usd for m in by_model if m.tier == "large"))
    large_share = _share(large_cost, total)
    top_agent = _leader([(a.agent, a.cost_usd) for a in by_agent], total)
    answers = summary.model_calls + summary.cache_hits
    recommendations = []
    if total > 0 and large_share >= LARGE_TIER_SHARE:
        recommendations.append(
            Recommendation(
                rule="large_tier_cost_share",
                figure=large_share,
                threshold=LARGE_TIER_SHARE,
                message=(
                    f"{large_share:.0%} of your cost (${large_cost:.6f}) went to large-tier models. "
                    "Short, single-step questions are routed to the small tier: split multi-part "
                    "questions, and use /chat/quick for simple ones."
                ),
            )
        )
    if top_agent is not None and len(by_agent) > 1 and top_agent.share >= AGENT_COST_SHARE:
        recommendations.append(
            Recommendation(
                rule="agent_cost_share",
                figure=top_agent.share,
                threshold=AGENT_COST_SHARE,
                message=(
                    f"Agent '{top_agent.name}' accounts for {top_agent.share:.0%} of your cost "
                    f"(${top_agent.cost_usd:.6f}). For its routine questions, pin the small model "
                    f'("model": "{TIERS["small"][0]}").'
                ),
            )
        )
    if answers >= MIN_ANSWERS_FOR_HIT_RATE and summary.cache_hit_rate < LOW_CACHE_HIT_RATE:
        recommendations.append(
            Recommendation(
                rule="low_cache_hit_rate",
                figure=summary.cache_hit_rate,
                threshold=LOW_CACHE_HIT_RATE,
                message=(
                    f"Only {summary.cache_hit_rate:.0%} of your {answers} answers came from the cache. "
                    "A question asked again the same way (case and spacing aside) to the same agent, "
                    "outside a conversation, is answered from the cache at no cost: reuse your "
                    "wording rather than rephrasing."
                ),
            )
        )
    return CostAnalysis(
        large_tier_cost_usd=large_cost,
        large_tier_cost_share=large_share,
        most_expensive_model=_leader([(m.model, m.cost_usd) for m in by_model], total),
        most_expensive_agent=top_agent,
        recommendations=recommendations,
    )


def _savings(totals: dict[str, Any]) -> Savings:
    baseline = totals.get("baseline_cost_usd", 0.0)
    cost = totals.get("cost_usd", 0.0)
    by_cache = totals.get("saved_cost_usd", 0.0)
    return Savings(
        baseline_cost_usd=_usd(baseline),
        cost_usd=_usd(cost),
        saved_usd=_usd(baseline - cost),
        saved_by_routing_usd=_usd(baseline - cost - by_cache),
        saved_by_cache_usd=_usd(by_cache),
    )
