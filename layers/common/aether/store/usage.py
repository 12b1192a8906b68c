"""Usage records: one per model call or cache hit, the source of per-user analytics."""

import asyncio
import json
from collections import defaultdict
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from bson import ObjectId

from aether import clients
from aether.core import nano_usd
from aether.store.outbox import dumps, get_outbox, insert_usage
from aether.store.writes import mongo_errors, read_or_503
from aether.telemetry import count, logger, usage_changed

__all__ = [
    "NOT_STORED",
    "USAGE_BY_TIME_INDEX",
    "UsageRecord",
    "business_figures",
    "record",
    "record_many",
    "spent",
]

USAGE_BY_USER_INDEX = [("user_id", 1), ("ts", 1)]  # analytics: one user's records over a period


@dataclass(frozen=True, slots=True)
class UsageRecord:
    user_id: str
    endpoint: str
    agent: str
    model: str
    prompt_tokens: int
    completion_tokens: int
    cost_usd: float
    latency_ms: float
    request_id: str
    cache_tier: str | None = None
    conversation_id: str | None = None
    tier: str | None = None  # the model's tier
    task: str | None = None  # the task kind the router saw in the message (aether.agents.router)
    baseline_cost_usd: float = 0.0  # the same tokens on the large tier, without cache (analytics' baseline)
    saved_cost_usd: float = 0.0  # a cache hit: what the answer cost when it was computed
    partial: bool = False  # a call cut short (the client left, the deadline, a break): tokens estimated

    @property
    def cost_nano(self) -> int:
        """The cost in whole nano-dollars: what budgets add up."""
        return nano_usd(self.cost_usd)


async def record(usage: UsageRecord) -> None:
    await record_many([usage])


async def record_many(records: list[UsageRecord]) -> None:
    """Several records in one round trip, never lost and never raising.

    MongoDB first; if it fails, the Redis outbox (store/outbox.py); if Redis fails too, one log
    line per record (NOT_STORED). Beside the insert, a batch of the outbox is drained when due.
    """
    if not records:
        return
    now = datetime.now(UTC)
    documents = [{"_id": ObjectId(), **asdict(r), "cost_nano": r.cost_nano, "ts": now} for r in records]
    await asyncio.gather(_store(documents), _drain())
    for user_id in {r.user_id for r in records}:
        usage_changed(user_id)


async def _drain() -> None:
    """Drain the outbox if due; a failure is logged, never the usage write's failure."""
    try:
        await get_outbox().drain_if_due()
    except Exception:
        logger.exception("usage outbox drain failed")


# The message of the log line that holds a usage record neither MongoDB nor Redis took; its
# `usage_record` field is the document as relaxed extended JSON: `bson.json_util.loads` of it can
# be inserted as is (its own _id makes a repeated insert harmless).
NOT_STORED = "usage record not stored"


async def _store(documents: list[dict[str, Any]]) -> None:
    try:
        await insert_usage(documents)
        return
    except mongo_errors() as exc:
        error = type(exc).__name__
    if await get_outbox().push(documents):
        logger.warning("usage records kept in the outbox", extra={"records": len(documents), "error": error})
        return
    for document in documents:
        logger.error(NOT_STORED, extra={"usage_record": json.loads(dumps(document)), "error": error})
    count("UsageLogged", len(documents))


# The business figures read every user's records of a period.
USAGE_BY_TIME_INDEX = [("ts", 1)]


async def business_figures(now: datetime | None = None) -> dict[str, Any]:
    """Requests per day (7 days), active users and cost per active user this month, from usage."""
    now = now or datetime.now(UTC)
    month_start = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    week_start = (now - timedelta(days=6)).replace(hour=0, minute=0, second=0, microsecond=0)
    since = min(month_start, week_start)
    pipeline: list[dict[str, Any]] = [
        {"$match": {"ts": {"$gte": since}}},
        {
            "$project": {
                "user_id": 1,
                "cost_usd": 1,
                "request_id": 1,
                "day": {"$dateToString": {"format": "%Y-%m-%d", "date": "$ts"}},
                "this_month": {"$gte": ["$ts", month_start]},
            }
        },
        {
            "$group": {
                "_id": {"day": "$day", "user_id": "$user_id", "this_month": "$this_month"},
                "cost_usd": {"$sum": "$cost_usd"},
                "requests": {"$addToSet": "$request_id"},
            }
        },
    ]
    with read_or_503("the business figures"):
        rows = await (await clients.mongo_db().usage.aggregate(pipeline)).to_list(None)
    per_day: defaultdict[str, int] = defaultdict(int)
    month_users: set[str] = set()
    month_cost = 0.0
    week_first = week_start.strftime("%Y-%m-%d")
    for row in rows:
        key = row["_id"]
        if key["day"] >= week_first:
            per_day[key["day"]] += len(row["requests"])
        if key["this_month"]:
            month_users.add(key["user_id"])
            month_cost += row["cost_usd"]
    days = [(week_start + timedelta(days=i)).strftime("%Y-%m-%d") for i in range(7)]
    return {
        "requests_per_day": {day: per_day.get(day, 0) for day in days},
        "active_users_month": len(month_users),
        "cost_month_usd": round(month_cost, 6),
        "cost_per_active_user_month_usd": round(month_cost / len(month_users), 6) if month_users else 0.0,
    }


async def spent(user_id: str, day_start: datetime, month_start: datetime) -> tuple[int, int]:
    """What the user's usage records say they spent since `day_start` and since `month_start`, in
    nano-dollars: the truth budgets are checked against (one aggregation on USAGE_BY_USER_INDEX)."""
    since = min(day_start, month_start)
    pipeline: list[dict[str, Any]] = [
        {"$match": {"user_id": user_id, "ts": {"$gte": since}}},
        {
            "$group": {
                "_id": None,
                "month": {"$sum": {"$cond": [{"$gte": ["$ts", month_start]}, "$cost_nano", 0]}},
                "day": {"$sum": {"$cond": [{"$gte": ["$ts", day_start]}, "$cost_nano", 0]}},
            }
        },
    ]
    rows = await (await clients.mongo_db().usage.aggregate(pipeline)).to_list(1)
    return (int(rows[0]["day"]), int(rows[0]["month"])) if rows else (0, 0)
