"""Per-user request rate and spending budgets that never fail open.

A plan (named by a claim, else DEFAULT_PLAN) sets requests per minute and USD per UTC day and
per UTC month; 0 means no limit. The rate is one counter per user and minute in Redis (`admit`);
an environment that saw a user past it refuses them for the rest of the minute without asking
(`refuse_if_past_rate`), which lets an answer from memory be counted without being waited for.

Money. MongoDB's usage records are the truth of what a user spent (`store.usage.spent`). Redis
holds what every environment shares: for each user a cache of that spend per day and per month
(hashes: `spent` in nano-dollars, `checked` when it was last read from MongoDB) and the
reservations in flight (a sorted set: "<id>:<nano-dollars>", scored by when it lapses). Before a
model call its worst case is reserved in one Lua round trip against spent + in flight; after the
call its usage is recorded and then (`charge`, in that order) the reservation replaced by the
real cost. The cache is rebuilt from MongoDB when it is missing (Redis restarted or evicted, a
new day or month), when it is older than QUOTA_RECONCILE_S, and for every user an environment
served while Redis was away, once Redis answers again. A rebuild is exact when nothing is in
flight; otherwise it never lowers the spend and leaves the cache marked for the next quiet
moment. A settlement of a reservation Redis no longer holds (lost in a restart) adds nothing and
marks the cache the same way: its record is in MongoDB already. A reservation whose environment
died lapses after the request timeout.

Without Redis (down, paused, out of connections, or no free connection in this environment's
pool) an environment admits a call only when it holds no other reservation of the user's, and
only against what MongoDB says they spent; without MongoDB too, it refuses (503). Across
environments the excess is then at most the reservations the others hold unsettled: one worst
case per environment. Once Redis answers again, the reservations it did not answer for (a paused
Redis may run them later) or whose settlement it did not answer are dropped, and the spend of
the users served meanwhile is rebuilt from MongoDB. The per-minute rate is then counted per
environment.
"""

import asyncio
import hashlib
import json
import math
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from functools import cache
from typing import TYPE_CHECKING

from aether import clients
from aether.cache.redis_tier import RedisTier
from aether.core import Principal, nano_usd
from aether.errors import BudgetExceeded, ServiceUnavailable, TooManyRequests
from aether.llm.catalog import MODELS, prompt_tokens_at_most
from aether.settings import get_settings
from aether.store import usage
from aether.store.writes import mongo_errors
from aether.telemetry import timing

if TYPE_CHECKING:
    from redis.asyncio import Redis

__all__ = [
    "PLANS",
    "Plan",
    "Reservation",
    "admit",
    "charge",
    "keys_of",
    "plan_of",
    "refuse_if_past_rate",
    "release",
    "reserve",
    "worst_case_usd",
]


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

# KEYS: day hash, month hash, in-flight set. ARGV: amount, day limit, month limit (0: none), now
# (ms), when the reservation lapses (ms), its member, reconcile age (ms), the set's lifetime (s).
# Returns "ok"; "day" or "month" for the budget it would pass (the month first: its reset is never
# sooner, so its Retry-After is the one that holds); "missing" or "stale" when the spend must be
# read from MongoDB first.
_RESERVE = """
local now = tonumber(ARGV[4])
redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', now)
local held = 0
for _, member in ipairs(redis.call('ZRANGE', KEYS[3], 0, -1)) do
  held = held + tonumber(string.match(member, ':(%d+)$'))
end
local day = redis.call('HMGET', KEYS[1], 'spent', 'checked')
local month = redis.call('HMGET', KEYS[2], 'spent', 'checked')
if not day[1] or not month[1] then return 'missing' end
local age = tonumber(ARGV[7])
if held == 0 and (now - tonumber(day[2]) > age or now - tonumber(month[2]) > age) then return 'stale' end
local amount = tonumber(ARGV[1])
local day_limit, month_limit = tonumber(ARGV[2]), tonumber(ARGV[3])
if month_limit > 0 and tonumber(month[1]) + held + amount > month_limit then return 'month' end
if day_limit > 0 and tonumber(day[1]) + held + amount > day_limit then return 'day' end
redis.call('ZADD', KEYS[3], ARGV[5], ARGV[6])
redis.call('EXPIRE', KEYS[3], ARGV[8])
return 'ok'
"""

# KEYS: day hash, month hash, in-flight set. ARGV: day spend, month spend (nano-dollars), now
# (ms), the hashes' lifetimes (s), reconcile age (ms; -1: now). The spend as MongoDB has it,
# written to a hash that lacks it or was not reconciled for `age`. It is exact only when nothing
# is in flight (every settled call's record is in MongoDB, `charge`); otherwise the spend is never
# lowered and the hash is marked for a rebuild (checked 0) at the next reservation that finds
# nothing in flight. Returns 1 (a nil would read as Redis unavailable).
_REBUILD = """
local now, age = tonumber(ARGV[3]), tonumber(ARGV[6])
local quiet = redis.call('ZCOUNT', KEYS[3], '(' .. now, '+inf') == 0
for i = 1, 2 do
  local found = redis.call('HMGET', KEYS[i], 'spent', 'checked')
  if not found[1] then
    redis.call('HSET', KEYS[i], 'spent', ARGV[i], 'checked', quiet and ARGV[3] or 0)
    redis.call('EXPIRE', KEYS[i], ARGV[3 + i])
  elseif now - tonumber(found[2]) > age then
    if quiet then
      redis.call('HSET', KEYS[i], 'spent', ARGV[i], 'checked', ARGV[3])
    else
      redis.call('HSET', KEYS[i], 'spent', math.max(tonumber(found[1]), tonumber(ARGV[i])), 'checked', 0)
    end
  end
end
return 1
"""

# KEYS: day hash, month hash, in-flight set. ARGV: the reservation's member, the real cost. A
# reservation Redis no longer holds (lost in a restart, or lapsed) adds nothing: its record is in
# MongoDB, and the hashes are marked for a rebuild from it.
_SETTLE = """
local held = redis.call('ZREM', KEYS[3], ARGV[1])
for i = 1, 2 do
  if redis.call('EXISTS', KEYS[i]) == 1 then
    if held == 1 then
      redis.call('HINCRBY', KEYS[i], 'spent', ARGV[2])
    else
      redis.call('HSET', KEYS[i], 'checked', 0)
    end
  end
end
return 1
"""


@dataclass(frozen=True, slots=True)
class Keys:
    day: str
    month: str
    held: str


def keys_of(user_id: str, now: datetime) -> Keys:
    # The hash tag is a digest of the user id: an id holding braces cannot split a user's keys
    # across Redis Cluster slots.
    tag = f"aether:quota:{{{hashlib.sha256(user_id.encode()).hexdigest()[:16]}}}"
    return Keys(f"{tag}:usd:{now:%Y-%m-%d}", f"{tag}:usd:{now:%Y-%m}", f"{tag}:held")


@dataclass(frozen=True, slots=True)
class Reservation:
    user_id: str
    keys: Keys
    member: str  # "<id>:<nano-dollars>"
    nano_usd: int  # 0: nothing was reserved (no budget)
    local: bool = False  # held by this environment alone (Redis was unavailable)

    def covers(self, usd: Decimal) -> bool:
        """Whether it holds `usd` (anything does where nothing had to be reserved)."""
        return not self.nano_usd or self.nano_usd >= nano_usd(usd)


@dataclass(frozen=True, slots=True)
class _Window:
    now: datetime
    day_start: datetime
    month_start: datetime
    until_tomorrow: int  # seconds
    until_next_month: int


def _window(now: datetime) -> _Window:
    day_start = now.replace(hour=0, minute=0, second=0, microsecond=0)
    month_start = day_start.replace(day=1)
    next_month = datetime(now.year + now.month // 12, now.month % 12 + 1, 1, tzinfo=UTC)
    until_tomorrow = 86_400 - (now.hour * 3600 + now.minute * 60 + now.second)
    return _Window(now, day_start, month_start, until_tomorrow, math.ceil((next_month - now).total_seconds()))


# This environment's own view for when Redis is unavailable: the reservations it holds (made with
# Redis or without), its per-minute counts, the users whose Redis spend must be reconciled once
# Redis answers, and the reservations to drop then (Redis may have run their reservation without
# answering, or not run their settlement).
_held_here: dict[str, set[str]] = {}  # user -> the reservations this environment holds
_local_minutes: dict[tuple[str, int], int] = {}
_served_without_redis: set[str] = set()
_unanswered: dict[str, set[str]] = {}  # in-flight set key -> members to drop


_past_rate: dict[str, int] = {}  # user -> the minute this environment saw them past the rate


def _rate_refused(limit: int, now: float) -> TooManyRequests:
    minute = int(now // 60)
    return TooManyRequests(
        f"rate limit: your plan allows {limit} requests per minute",
        retry_after_s=max(1, math.ceil((minute + 1) * 60 - now)),
    )


def refuse_if_past_rate(principal: Principal) -> None:
    """429 at once when this environment has seen the caller past the rate this minute (no
    round trip: it lets an answer from memory be counted without being waited for)."""
    limit = plan_of(principal).requests_per_minute
    now = time.time()
    if limit and _past_rate.get(principal.user_id) == int(now // 60):
        raise _rate_refused(limit, now)


async def admit(principal: Principal) -> None:
    """Count this request against the caller's minute; 429 past the plan's rate."""
    limit = plan_of(principal).requests_per_minute
    if not limit:
        return
    now = time.time()
    minute = int(now // 60)
    key = f"{keys_of(principal.user_id, datetime.now(UTC)).held.removesuffix(':held')}:rpm:{minute}"
    with timing.span("quota"):
        found = await _redis().call(lambda redis: redis.eval(_COUNT, 1, key, 90))
    if found is None:  # counted here alone until Redis answers
        for stale in [k for k in _local_minutes if k[1] < minute]:
            del _local_minutes[stale]
        found = _local_minutes[(principal.user_id, minute)] = (
            _local_minutes.get((principal.user_id, minute), 0) + 1
        )
    if int(found) > limit:
        for user in [user for user, seen in _past_rate.items() if seen < minute]:
            del _past_rate[user]
        _past_rate[principal.user_id] = minute
        raise _rate_refused(limit, now)


def worst_case_usd(
    chain: tuple[str, ...], messages: list[dict[str, str]], max_tokens: int, unseen_prompt_tokens: int = 0
) -> Decimal:
    """The most a call can cost: every prompt byte a token, max_tokens out, the dearest model.

    `unseen_prompt_tokens` counts prompt text not written yet (a synthesis of answers to come)."""
    prompt_tokens = prompt_tokens_at_most(messages, unseen_prompt_tokens)
    input_price = max(MODELS[m].input_per_million for m in chain)
    output_price = max(MODELS[m].output_per_million for m in chain)
    return (prompt_tokens * input_price + max_tokens * output_price) / 1_000_000  # exact, in Decimal


async def reserve(principal: Principal, usd: Decimal | float) -> Reservation:
    """Reserve `usd` against the caller's day and month budgets; 429 if either would be passed,
    503 if neither Redis nor MongoDB can say what the caller spent."""
    plan = plan_of(principal)
    window = _window(datetime.now(UTC))
    keys = keys_of(principal.user_id, window.now)
    amount = max(1, nano_usd(usd))
    member = f"{uuid.uuid4().hex}:{amount}"
    if not plan.usd_per_day and not plan.usd_per_month:
        return Reservation(principal.user_id, keys, member, 0)
    if (_served_without_redis or _unanswered) and _redis().available:
        await _reconcile_after_outage()  # before the reservation, which must see what they spent
    outcome = await _reserve_shared(principal.user_id, plan, window, keys, member, amount)
    local = outcome is None
    if outcome is None:  # Redis is unavailable: MongoDB's word and this environment's own holds
        outcome = await _reserve_here(principal.user_id, plan, window, member, amount)
    if outcome == "month":
        raise BudgetExceeded(
            f"monthly budget: your plan allows ${plan.usd_per_month:.2f} of model use per month (UTC)",
            retry_after_s=window.until_next_month,
        )
    if outcome == "day":
        raise BudgetExceeded(
            f"daily budget: your plan allows ${plan.usd_per_day:.2f} of model use per day (UTC)",
            retry_after_s=window.until_tomorrow,
        )
    _held_here.setdefault(principal.user_id, set()).add(member)
    return Reservation(principal.user_id, keys, member, amount, local)


async def _reserve_shared(
    user_id: str, plan: Plan, window: _Window, keys: Keys, member: str, amount: int
) -> str | None:
    """The reservation in Redis ("ok", "day" or "month"), with the spend read from MongoDB first
    when Redis lacks it or it is due for a reconciliation; None when Redis is unavailable (or
    lost the spend again at once)."""
    settings = get_settings()
    now_ms = int(window.now.timestamp() * 1000)
    lapse_ms = now_ms + settings.request_timeout_ms + 60_000
    day_limit, month_limit = nano_usd(plan.usd_per_day), nano_usd(plan.usd_per_month)
    reconcile_ms = settings.quota_reconcile_s * 1000
    for _ in range(2):
        args = (
            amount,
            day_limit,
            month_limit,
            now_ms,
            lapse_ms,
            member,
            reconcile_ms,
            window.until_next_month + 3600,
        )

        async def run(redis: "Redis", args: tuple[int | str, ...] = args) -> object:
            return await redis.eval(_RESERVE, 3, keys.day, keys.month, keys.held, *args)

        with timing.span("quota"):
            result = await _redis().call(run)
        if result is None:  # a paused Redis runs it later: dropped once Redis answers again
            _unanswered.setdefault(keys.held, set()).add(member)
            return None
        outcome = result.decode() if isinstance(result, bytes) else str(result)
        if outcome not in {"missing", "stale"}:
            return outcome
        try:
            day, month = await usage.spent(user_id, window.day_start, window.month_start)
        except mongo_errors() as exc:
            if outcome == "missing":
                raise _unavailable() from exc
            reconcile_ms = 2**62  # the cached spend stands until MongoDB answers again
            continue
        if not await _rebuild(keys, window, day, month, reconcile_ms):
            return None
    return None


async def _rebuild(keys: Keys, window: _Window, day: int, month: int, age_ms: int) -> bool:
    """Redis's cache of the spend set to what MongoDB says, where it lacks it or is older than
    `age_ms`; False if Redis is unavailable."""
    now_ms = int(window.now.timestamp() * 1000)
    args = (day, month, now_ms, window.until_tomorrow + 3600, window.until_next_month + 3600, age_ms)
    done = await _redis().call(lambda r: r.eval(_REBUILD, 3, keys.day, keys.month, keys.held, *args))
    return done is not None


async def _reserve_here(user_id: str, plan: Plan, window: _Window, member: str, amount: int) -> str:
    """The reservation without Redis: one call at a time per user in this environment (another
    reservation of theirs held here is a 503), against what MongoDB says they spent."""
    held = _held_here.setdefault(user_id, set())
    if held:
        raise _unavailable(retry_after_s=1)
    held.add(member)  # before the read: a concurrent request here sees it
    try:
        day, month = await usage.spent(user_id, window.day_start, window.month_start)
    except mongo_errors() as exc:
        _drop_hold(user_id, member)
        raise _unavailable() from exc
    _served_without_redis.add(user_id)
    outcome = "ok"
    if plan.usd_per_month and month + amount > nano_usd(plan.usd_per_month):
        outcome = "month"
    elif plan.usd_per_day and day + amount > nano_usd(plan.usd_per_day):
        outcome = "day"
    if outcome != "ok":
        _drop_hold(user_id, member)
    return outcome


def _drop_hold(user_id: str, member: str) -> None:
    held = _held_here.get(user_id, set())
    held.discard(member)
    if not held:
        _held_here.pop(user_id, None)


def _unavailable(retry_after_s: int = 5) -> ServiceUnavailable:
    message = "budgets cannot be checked right now; retry shortly"
    return ServiceUnavailable(message, retry_after_s=retry_after_s)


async def _reconcile_after_outage() -> None:
    """Once Redis answers again, the reservations it did not answer for are dropped, and the spend
    of the users served without it is read from MongoDB: what they spent meanwhile is charged."""
    for held_key, members in list(_unanswered.items()):
        dropped = set(members)  # requests of this environment may reconcile at once, or add more

        async def drop(redis: "Redis", key: str = held_key, these: set[str] = dropped) -> object:
            return await redis.zrem(key, *these)

        if await _redis().call(drop) is None:
            return
        left = _unanswered.get(held_key, set()) - dropped
        if left:
            _unanswered[held_key] = left
        else:
            _unanswered.pop(held_key, None)
    while _served_without_redis:
        user_id = _served_without_redis.pop()
        window = _window(datetime.now(UTC))
        keys = keys_of(user_id, window.now)
        try:
            day, month = await usage.spent(user_id, window.day_start, window.month_start)
        except mongo_errors():
            _served_without_redis.add(user_id)
            return
        if not await _rebuild(keys, window, day, month, -1):  # whatever it holds
            _served_without_redis.add(user_id)
            return


async def charge(
    reservation: Reservation,
    records: list[usage.UsageRecord],
    beside: Sequence[Callable[[], Awaitable[object]]] = (),
) -> None:
    """Record the calls' usage, then settle the reservation to their cost. In that order: when a
    settlement reaches Redis, MongoDB (what a rebuild reads) already holds its record. `beside`:
    the request's other Redis writes, sent in the settlement's stage (one wait, not two)."""
    await usage.record_many(records)
    await asyncio.gather(_settle(reservation, sum(r.cost_nano for r in records)), *(w() for w in beside))


async def release(reservation: Reservation) -> None:
    """Give the reservation back: its call never reached a model."""
    await _settle(reservation, 0)


async def _settle(reservation: Reservation, cost: int) -> None:
    """Replace the reserved worst case by the real cost (nano-dollars). A settlement Redis does not
    answer leaves the reservation to be dropped and the user's spend to be rebuilt from MongoDB
    (where `charge` put the record first) once Redis answers again."""
    _drop_hold(reservation.user_id, reservation.member)
    if not reservation.nano_usd or reservation.local:
        return
    keys = reservation.keys
    with timing.span("quota"):
        done = await _redis().call(
            lambda r: r.eval(_SETTLE, 3, keys.day, keys.month, keys.held, reservation.member, cost)
        )
    if done is None:
        _unanswered.setdefault(keys.held, set()).add(reservation.member)
        _served_without_redis.add(reservation.user_id)
