"""Per-user request rate and spending budgets, shared by every execution environment through Redis.

A plan (named by a claim, else DEFAULT_PLAN) sets requests per minute and USD per UTC day and
per UTC month; 0 means no limit. Every chat request counts against the minute before anything
else (one round trip). Before a model call its worst case is reserved atomically against both
budgets (one Lua round trip): prompt bytes as tokens (a token covers at least one byte) times
the dearest input price of the models that may answer, plus max_tokens times the dearest output
price. After the call the reservation is settled to the real cost. Concurrent requests therefore
cannot spend past a budget: each one's worst case is counted before it starts. A reservation
whose environment dies before settling stays counted until the day (or month) key expires:
the error is on the safe side.

Without Redis nothing is enforced (the request goes on, and RedisIncidents counts the outage).
"""

import hashlib
import json
import math
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from functools import cache
from typing import TYPE_CHECKING

from aether import clients
from aether.cache.redis_tier import RedisTier
from aether.core import Invocation, Principal
from aether.errors import TooManyRequests
from aether.llm.catalog import MODELS, prompt_tokens_at_most
from aether.llm.client import Completion, complete
from aether.settings import get_settings

if TYPE_CHECKING:
    from redis.asyncio import Redis

__all__ = [
    "PLANS",
    "Plan",
    "Reservation",
    "admit",
    "metered",
    "plan_of",
    "reserve",
    "settle",
    "worst_case_usd",
]

NANO = 1_000_000_000  # budgets are counted in integer nano-dollars


@dataclass(frozen=True, slots=True)
class Plan:
    requests_per_minute: int = 0
    usd_per_day: float = 0.0
    usd_per_month: float = 0.0


PLANS: dict[str, Plan] = {
    "free": Plan(requests_per_minute=30, usd_per_day=0.50, usd_per_month=5.00),
    "pro": Plan(requests_per_minute=120, usd_per_day=10.00, usd_per_month=100.00),
    "unlimited": Plan(),
}


@cache
def _plans(configured: str) -> dict[str, Plan]:
    """The built-in plans, with PLANS (JSON: name -> fields of Plan) added or replacing them."""
    extra = {name: Plan(**fields) for name, fields in json.loads(configured).items()} if configured else {}
    return {**PLANS, **extra}


def plan_of(principal: Principal) -> Plan:
    settings = get_settings()
    plans = _plans(settings.plans)
    return plans.get(principal.plan) or plans[settings.default_plan]


@cache
def _redis() -> RedisTier:
    return RedisTier(clients.redis, get_settings().redis_retry_after_s)


# KEYS: the minute's counter. ARGV: its lifetime in seconds. Returns the count including this one.
_COUNT = """
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end
return n
"""

# KEYS: day total, month total. ARGV: amount, day limit, month limit, day ttl, month ttl (a limit
# of 0 is none). Returns 0 when reserved, 1 or 2 when the day or the month budget would be passed
# (the month first: its reset is never sooner, so its Retry-After is the one that holds).
_RESERVE = """
local amount = tonumber(ARGV[1])
local day_limit, month_limit = tonumber(ARGV[2]), tonumber(ARGV[3])
if month_limit > 0 and tonumber(redis.call('GET', KEYS[2]) or '0') + amount > month_limit then return 2 end
if day_limit > 0 and tonumber(redis.call('GET', KEYS[1]) or '0') + amount > day_limit then return 1 end
redis.call('INCRBY', KEYS[1], amount)
redis.call('EXPIRE', KEYS[1], ARGV[4])
redis.call('INCRBY', KEYS[2], amount)
redis.call('EXPIRE', KEYS[2], ARGV[5])
return 0
"""


def _key(user_id: str, window: str) -> str:
    # The hash tag is a digest of the user id: an id holding braces cannot split a user's keys
    # across Redis Cluster slots.
    return f"aether:quota:{{{hashlib.sha256(user_id.encode()).hexdigest()[:16]}}}:{window}"


def _until_next_month(now: datetime) -> int:
    start = datetime(now.year + now.month // 12, now.month % 12 + 1, 1, tzinfo=UTC)
    return math.ceil((start - now).total_seconds())


async def admit(principal: Principal) -> None:
    """Count this request against the caller's minute; 429 past the plan's rate."""
    limit = plan_of(principal).requests_per_minute
    if not limit:
        return
    now = time.time()
    minute = int(now // 60)
    key = _key(principal.user_id, f"rpm:{minute}")
    count = await _redis().call(lambda redis: redis.eval(_COUNT, 1, key, 90))
    if count is not None and int(count) > limit:
        raise TooManyRequests(
            f"rate limit: your plan allows {limit} requests per minute",
            retry_after_s=max(1, math.ceil((minute + 1) * 60 - now)),
        )


def worst_case_usd(
    chain: tuple[str, ...], messages: list[dict[str, str]], max_tokens: int, unseen_prompt_tokens: int = 0
) -> Decimal:
    """The most a call can cost: every prompt byte a token, max_tokens out, the dearest model.

    `unseen_prompt_tokens` counts prompt text not written yet (a synthesis of answers to come)."""
    prompt_tokens = prompt_tokens_at_most(messages, unseen_prompt_tokens)
    input_price = max(MODELS[m].input_per_million for m in chain)
    output_price = max(MODELS[m].output_per_million for m in chain)
    return (prompt_tokens * input_price + max_tokens * output_price) / 1_000_000  # exact, in Decimal


@dataclass(frozen=True, slots=True)
class Reservation:
    user_id: str
    day_key: str
    month_key: str
    nano_usd: int  # 0: nothing was reserved (no budget, or Redis unavailable)


async def reserve(principal: Principal, usd: Decimal | float) -> Reservation:
    """Reserve `usd` against the caller's day and month budgets; 429 if either would be passed."""
    plan = plan_of(principal)
    now = datetime.now(UTC)
    day_key = _key(principal.user_id, f"usd:{now:%Y-%m-%d}")
    month_key = _key(principal.user_id, f"usd:{now:%Y-%m}")
    if not plan.usd_per_day and not plan.usd_per_month:
        return Reservation(principal.user_id, day_key, month_key, 0)
    amount = max(1, math.ceil(usd * NANO))
    day_limit, month_limit = round(plan.usd_per_day * NANO), round(plan.usd_per_month * NANO)
    until_tomorrow = 86_400 - (now.hour * 3600 + now.minute * 60 + now.second)
    until_next_month = _until_next_month(now)
    args = (amount, day_limit, month_limit, until_tomorrow + 3600, until_next_month + 3600)
    outcome = await _redis().call(lambda redis: redis.eval(_RESERVE, 2, day_key, month_key, *args))
    if outcome is None:
        return Reservation(principal.user_id, day_key, month_key, 0)
    if int(outcome) == 1:
        raise TooManyRequests(
            f"daily budget: your plan allows ${plan.usd_per_day:.2f} of model use per day (UTC)",
            retry_after_s=until_tomorrow,
        )
    if int(outcome) == 2:
        raise TooManyRequests(
            f"monthly budget: your plan allows ${plan.usd_per_month:.2f} of model use per month (UTC)",
            retry_after_s=until_next_month,
        )
    return Reservation(principal.user_id, day_key, month_key, amount)


async def settle(reservation: Reservation, spent_usd: float) -> None:
    """Replace the reserved worst case by what the call really cost (0 if it failed)."""
    if not reservation.nano_usd:
        return
    delta = math.ceil(spent_usd * NANO) - reservation.nano_usd

    async def apply(redis: "Redis") -> None:
        async with redis.pipeline(transaction=False) as pipe:
            pipe.incrby(reservation.day_key, delta)
            pipe.incrby(reservation.month_key, delta)
            await pipe.execute()

    await _redis().call(apply)


async def metered(
    principal: Principal,
    chain: tuple[str, ...],
    messages: list[dict[str, str]],
    *,
    temperature: float,
    max_tokens: int,
    invocation: Invocation,
) -> "tuple[Completion, Reservation]":
    """llm.client.complete() inside a reservation of its worst case. A failed call's reservation
    is released here; after a good one the caller settles it beside its final writes."""
    reservation = await reserve(principal, worst_case_usd(chain, messages, max_tokens))
    try:
        completion = await complete(
            chain, messages, temperature=temperature, max_tokens=max_tokens, invocation=invocation
        )
    except BaseException:
        await settle(reservation, 0.0)
        raise
    return completion, reservation
