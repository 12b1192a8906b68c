"""Aggregations over `usage` for one user's analytics: every grouping in one round trip.

One `aggregate` command: `$match` on the user and the period (served by an index on
`(user_id, ts)`), then `$facet` into the whole period, each UTC day, each model, agent, task kind and tier.
`$percentile` is MongoDB 7.0+, t-digest there ("approximate"): while a sample is small enough
for every value to stay its own centroid it returns the nearest-rank value, which the mongoeco
stand-in returns for every sample.
"""

from datetime import datetime
from typing import Any

from aether import clients
from aether.store.writes import read_or_503

__all__ = ["usage_groups"]

_FIGURES: dict[str, Any] = {
    "request_ids": {"$addToSet": "$request_id"},
    "cache_hits": {"$sum": {"$cond": [{"$eq": [{"$ifNull": ["$cache_tier", None]}, None]}, 0, 1]}},
    "records": {"$sum": 1},
    "prompt_tokens": {"$sum": "$prompt_tokens"},
    "completion_tokens": {"$sum": "$completion_tokens"},
    "cost_usd": {"$sum": "$cost_usd"},
    "avg_latency_ms": {"$avg": "$latency_ms"},
    "p95_latency_ms": {"$percentile": {"input": "$latency_ms", "p": [0.95], "method": "approximate"}},
}


def _grouped(key: Any, sort: dict[str, int], **extra: Any) -> list[dict[str, Any]]:
    """Group by `key`: distinct requests, records, cache hits, tokens, cost, latency (+ `extra`)."""
    return [
        {"$group": {"_id": key, **_FIGURES, **extra}},
        {
            "$set": {
                "requests": {"$size": "$request_ids"},
                "p95_latency_ms": {"$arrayElemAt": ["$p95_latency_ms", 0]},
            }
        },
        {"$unset": "request_ids"},
        {"$sort": sort},
    ]


async def usage_groups(user_id: str, since: datetime) -> dict[str, list[dict[str, Any]]]:
    """The user's usage since `since`: `summary` (one group or none), `by_day`, `by_model`, `by_agent`,
    `by_task` and `by_tier`.

    Each group has `_id` (None, "YYYY-MM-DD", the model, the agent, the task kind or the tier),
    `requests` (distinct request ids), `records`, `cache_hits`, tokens, `cost_usd`,
    `avg_latency_ms` and `p95_latency_ms`; the summary also sums `baseline_cost_usd` and
    `saved_cost_usd`, a model carries its `tier`. Days are in order, the others by cost, highest first.
    """
    by_cost = {"cost_usd": -1, "_id": 1}
    pipeline: list[dict[str, Any]] = [
        {"$match": {"user_id": user_id, "ts": {"$gte": since}}},
        {
            "$facet": {
                "summary": _grouped(
                    None,
                    {"_id": 1},
                    baseline_cost_usd={"$sum": "$baseline_cost_usd"},
                    saved_cost_usd={"$sum": "$saved_cost_usd"},
                ),
                "by_day": _grouped({"$dateToString": {"format": "%Y-%m-%d", "date": "$ts"}}, {"_id": 1}),
                "by_model": _grouped("$model", by_cost, tier={"$max": "$tier"}),
                "by_agent": _grouped("$agent", by_cost),
                "by_task": _grouped("$task", by_cost),
                "by_tier": _grouped("$tier", by_cost),
            }
        },
    ]
    with read_or_503("your usage"):
        cursor = await clients.mongo_db().usage.aggregate(pipeline)
        (groups,) = await cursor.to_list(length=1)
    found: dict[str, list[dict[str, Any]]] = groups
    return found
