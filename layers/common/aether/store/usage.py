"""Usage records: one per model call or cache hit, the source of per-user analytics."""

from dataclasses import asdict, dataclass
from datetime import UTC, datetime

from aether import clients
from aether.telemetry import usage_changed

__all__ = ["UsageRecord", "record", "record_many"]

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
    baseline_cost_usd: float = 0.0  # the same tokens on the large tier, without cache (analytics' baseline)
    saved_cost_usd: float = 0.0  # a cache hit: what the answer cost when it was computed


async def record(usage: UsageRecord) -> None:
    await record_many([usage])


async def record_many(records: list[UsageRecord]) -> None:
    """Several records in one round trip."""
    now = datetime.now(UTC)
    await clients.mongo_db().usage.insert_many([{**asdict(r), "ts": now} for r in records], ordered=False)
    for user_id in {r.user_id for r in records}:
        usage_changed(user_id)
