"""The answer pipeline every chat route shares: cache -> route -> reserve -> model -> settle -> record.

A route family (native JSON and SSE, OpenAI JSON and SSE) only shapes a Question from its request
and its output from the Answer. `answer()` gives the whole Answer; `answer_stream()` gives what is
known before the first token (Head) and then the deltas and the Answer. Both run the same steps:

1. rate and cache (`_scope`, `_digest`): the per-minute rate is checked in the same stage as the
   cache lookup and must pass before anything is answered; when this environment's memory cannot
   answer, the budget reservation of step 3 starts in that stage too (`_Early`). The key is the
   request as given (the agent asked for, or `auto` with the conversation's agent; the pinned
   model or none; the prompt, history, instructions and generation parameters), so a hit needs
   no routing; what routing decided is kept with the answer. The whole answer comes through the tiered cache's
   `get_or_compute` (identical misses coalesce), its Redis write joining step 4's stage; a stream
   reads the cache first and writes its answer once complete.
2. route (`_plan`): agent, task kind and tier (services/routing.py), the model, the messages.
3. reserve and call the model (`_tokens`): the worst case is reserved against the budgets
   (taken from step 1 when that reservation covers the routed call); the model's answer whole
   (one call) or streamed, deltas then the Completion. A failure that never reached a model
   releases the reservation; a call cut short is recorded and charged (`_tokens`
   says how), shielded from the cancellation of a client that left.
4. record and settle (`_finish`): one usage record and then the reservation settled to the real
   cost beside the answer's Redis write (one Redis stage), the conversation turn when the route
   keeps one, and the rate-limit view refreshed when due: concurrent, awaited before the handler
   returns.
"""

import asyncio
import json
import time
from collections.abc import AsyncGenerator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from decimal import Decimal
from functools import partial
from typing import Any

import anyio
from bson import ObjectId

from aether import quota
from aether.agents.catalog import AGENTS
from aether.agents.choice import ModelChoice, choose_model
from aether.agents.router import Conversation
from aether.cache import get_cache, responses
from aether.cache.tiered import TierName, Uncacheable
from aether.core import Invocation, Principal
from aether.errors import AetherError, TooManyRequests, UpstreamError, UpstreamTimeout
from aether.llm.catalog import (
    MODELS,
    TIERS,
    Message,
    baseline_cost_usd,
    options_tokens_at_most,
    prompt_tokens_at_most,
)
from aether.llm.client import NO_OPTIONS, Completion, ToolCallPieces, complete, rate_limits, stream
from aether.services.routing import decide
from aether.settings import get_settings
from aether.store import conversations, usage

__all__ = ["Answer", "Head", "Question", "answer", "answer_stream", "usage_record"]


@dataclass(frozen=True, slots=True)
class Question:
    principal: Principal
    invocation: Invocation
    endpoint: str
    message: str
    temperature: float
    max_tokens: int
    agent: str = "auto"  # an agent's name, or auto
    model: str | None = None  # a pinned catalog model (no fallbacks)
    history: list[Message] = field(default_factory=list)
    previous_agent: str | None = None  # the agent of the conversation's last turn, if stored
    earlier: str = ""  # the caller's earlier messages, when no agent is stored (/v1)
    instructions: tuple[str, ...] = ()  # the caller's system messages, after the agent's own
    conversation_id: ObjectId | None = None  # where the turn is saved; None: the route keeps none
    is_new: bool = True  # the conversation starts with this turn
    small_tier: bool = False  # chat/quick: the small tier, whatever the task
    cached: bool = True  # chat/quick: no cache
    after: list[Message] = field(default_factory=list)  # after the prompt: tool calls, their results
    options: Mapping[str, Any] = NO_OPTIONS  # further provider parameters (tools, stop, seed...)
    persona: bool = True  # the agent's system prompt leads; False: the caller's instructions alone

    def scope(self) -> tuple[str, tuple[TierName, ...]]:
        """The cache namespace and tiers: shared answers outside conversations when configured."""
        if get_settings().cache_shared_scope and not self.history:
            return "shared", ("l1", "l3")
        return self.principal.user_id, ("l2", "l3")


@dataclass(frozen=True, slots=True)
class Head:
    """What is known before the first token: who answers, on which model, and why."""

    agent: str
    model: str
    tier: str
    model_reason: str
    routing: dict[str, Any]


@dataclass(slots=True)
class Answer:
    head: Head
    completion: Completion
    cache_tier: str | None  # the tier that answered; None: the model did
    latency_ms: float
    stored: bool | None  # the turn is saved (set by _finish); None: the route keeps no conversation

    @property
    def cost_usd(self) -> float:
        return 0.0 if self.cache_tier else self.completion.cost_usd

    @property
    def saved_cost_usd(self) -> float:
        return self.completion.cost_usd if self.cache_tier else 0.0


@dataclass(frozen=True, slots=True)
class _Plan:
    head: Head
    choice: ModelChoice
    messages: list[Message]
    task: str


async def answer(q: Question) -> Answer:
    """The whole answer, from the cache or the model, recorded."""
    started, asked_at = time.perf_counter(), datetime.now(UTC)
    computed: list[tuple[Completion, quota.Reservation]] = []
    scope, tiers = q.scope()
    digest = _digest(q)
    admitted = _admission(q)
    early = None if q.cached and get_cache().in_memory(scope, digest, tiers) else _Early(q)

    async def compute() -> bytes:
        await admitted
        plan = await _plan(q)
        reservation = await _Early.take(early, q, plan)
        async for item in _tokens(q, plan, reservation, streamed=False):
            if isinstance(item, Completion):
                computed.append((item, reservation))
        value = _cache_value(computed[0][0], plan)
        if computed[0][0].tool_calls:  # the caller runs them: asked again, it must be asked again
            raise Uncacheable(value)
        return value

    l3_write: list[Callable[[], Awaitable[None]]] = []
    try:
        if q.cached:
            ttl = get_settings().response_cache_ttl_s
            deadline = q.invocation.deadline
            lookup = await get_cache().get_or_compute(
                scope, digest, compute, ttl_s=ttl, tiers=tiers, deadline=deadline, deferred=l3_write
            )
            value, tier = lookup.value, lookup.tier
        else:
            value, tier = await _uncached(compute), None
        pending = None if computed else await _admitted(admitted, tier)
    except BaseException:
        _settled(admitted)
        await _Early.abandon(early)
        raise
    stored = json.loads(value)  # what routing decided, and the model that answered, are kept with it
    completion = computed[0][0] if computed else Completion.from_cache(stored)
    result = Answer(_cached_head(stored), completion, None if computed else tier, _since(started), None)
    reservation = computed[0][1] if computed else None
    also = [*_counted(pending), *_Early.unused(early)]
    return await _finish(q, result, reservation, asked_at, stored.get("task"), *also, stores=l3_write)


async def _uncached(compute: Callable[[], Awaitable[bytes]]) -> bytes:
    try:
        return await compute()
    except Uncacheable as result:
        return result.value


def _admission(q: Question) -> "asyncio.Future[None]":
    """The request counted against the caller's minute, started at once so that it runs beside
    the cache lookup (refused at once if this environment saw the caller past the rate)."""
    quota.refuse_if_past_rate(q.principal)
    return asyncio.ensure_future(quota.admit(q.principal))


async def _admitted(admitted: "asyncio.Future[None]", tier: str | None) -> "asyncio.Future[None] | None":
    """Wait for the rate, unless the answer came from this environment's memory: then the count
    is left pending (returned) to be awaited beside the final writes, so nothing is waited for in
    Redis first, and a count past the rate refuses the caller's next request here
    (`quota.refuse_if_past_rate`). Nothing a model produces is given before the rate said yes."""
    if tier in ("l1", "l2") and not admitted.done():
        admitted.add_done_callback(_settled)  # a 429 here is not an error of this request
        return admitted
    await admitted
    return None


def _counted(pending: "asyncio.Future[None] | None") -> list[Awaitable[object]]:
    """The pending count as one of the final writes, its 429 not this request's."""
    return [] if pending is None else [asyncio.wait([pending])]


def _settled(task: "asyncio.Future[None]") -> None:
    """A side task that is no longer needed: cancelled if running, its exception read if any (a
    failure that already ended the request is not logged again as never retrieved)."""
    if not task.done():
        task.cancel()
    elif not task.cancelled():
        task.exception()


async def answer_stream(q: Question) -> tuple[Head, AsyncGenerator[str | ToolCallPieces | Answer]]:
    """What is known before the first token, then the deltas and the Answer (an AetherError from
    the model ends the iterator: nothing is cached or recorded but the released reservation)."""
    started, asked_at = time.perf_counter(), datetime.now(UTC)
    scope, tiers = q.scope()
    digest = _digest(q)
    admitted = _admission(q)
    early = None if q.cached and get_cache().in_memory(scope, digest, tiers) else _Early(q)
    try:
        cached = await get_cache().get(scope, digest, tiers) if q.cached else None
        pending = await _admitted(admitted, cached.tier if cached else None)
        if cached is None:
            plan = await _plan(q)
            reservation = await _Early.take(early, q, plan)
    except BaseException:
        _settled(admitted)
        await _Early.abandon(early)
        raise
    if cached is not None:
        stored = json.loads(cached.value)
        also = [*_counted(pending), *_Early.unused(early)]
        return _cached_head(stored), _replayed(q, stored, cached.tier, started, asked_at, also)
    return plan.head, _streamed(q, plan, reservation, (scope, digest, tiers), started, asked_at)


async def _replayed(
    q: Question,
    stored: dict[str, Any],
    tier: str | None,
    started: float,
    asked_at: datetime,
    also: list[Awaitable[object]],
) -> AsyncGenerator[str | ToolCallPieces | Answer]:
    completion = Completion.from_cache(stored)
    yield completion.content
    result = Answer(_cached_head(stored), completion, tier, _since(started), None)
    yield await _finish(q, result, None, asked_at, stored.get("task"), *also)


async def _streamed(
    q: Question,
    plan: _Plan,
    reservation: quota.Reservation,
    key: tuple[str, str, tuple[TierName, ...]],
    started: float,
    asked_at: datetime,
) -> AsyncGenerator[str | ToolCallPieces | Answer]:
    tokens = _tokens(q, plan, reservation, streamed=True)
    try:
        async for item in tokens:
            if not isinstance(item, Completion):
                yield item
                continue
            scope, digest, tiers = key
            ttl = get_settings().response_cache_ttl_s
            value = _cache_value(item, plan)
            put = [] if item.tool_calls else [partial(get_cache().put, scope, digest, value, ttl, tiers)]
            head = replace(plan.head, model=item.model, model_reason=plan.choice.explain(item.model))
            result = Answer(replace(head, tier=MODELS[item.model].tier), item, None, _since(started), None)
            yield await _finish(q, result, reservation, asked_at, plan.task, stores=put)
    finally:
        await tokens.aclose()  # if the consumer left mid-stream, the call is read on and charged


def _digest(q: Question) -> str:
    asked = q.agent if q.agent != "auto" else f"auto:{q.previous_agent or ''}"
    history = [*q.history, *({"system": text} for text in q.instructions), *q.after]
    return responses.digest(
        agent=asked if q.persona else "none",
        model=q.model or ("small" if q.small_tier else ""),
        prompt=q.message,
        history=history,
        temperature=q.temperature,
        max_tokens=q.max_tokens,
        options={key: value for key, value in q.options.items() if key != "user"},  # user: whose
    )


def _messages(q: Question, system_prompt: str) -> list[Message]:
    """The agent's prompt then the caller's instructions (or those alone: a raw call), the
    history, the prompt, and what followed it (tool calls and their results)."""
    system = "\n\n".join([system_prompt, *q.instructions] if q.persona else q.instructions)
    leading = [{"role": "system", "content": system}] if system else []
    return [*leading, *q.history, {"role": "user", "content": q.message}, *q.after]


async def _plan(q: Question) -> _Plan:
    """Route, then the model and the messages it is sent."""
    conversation = Conversation(agent=q.previous_agent, earlier=q.earlier)
    decision = await decide(q.agent, q.message, conversation, q.principal, q.invocation)
    messages = _messages(q, AGENTS[decision.agent].system_prompt)
    tokens = prompt_tokens_at_most(messages, options_tokens_at_most(q.options)) + q.max_tokens
    choice = choose_model(decision, tokens, pinned=q.model, tier="small" if q.small_tier else None)
    head = Head(decision.agent, choice.model, choice.tier, choice.reason, decision.summary())
    return _Plan(head, choice, messages, decision.task)


class _Early:
    """The budget reservation of a request the memory tiers cannot answer, started beside the rate
    and the cache lookup, so that a miss waits for no Redis stage of its own before the model.

    Before routing, the worst case is that of any model the request may go to, with the longest
    agent prompt. The routed call takes it when it covers the routed worst case (the settlement
    gives back the difference); when it does not fit the budget (its edge), or does not cover
    (a larger context window than the tier's), the routed worst case is reserved instead. An
    answer from the cache gives it back beside its final writes.
    """

    _LONGEST_PROMPT = max((agent.system_prompt for agent in AGENTS.values()), key=len)

    def __init__(self, q: Question) -> None:
        chain = (q.model,) if q.model else TIERS["small"] if q.small_tier else tuple(MODELS)
        self.task = asyncio.ensure_future(
            _fitting(q, _worst_case(q, chain, _messages(q, self._LONGEST_PROMPT)))
        )
        self.taken = False

    @staticmethod
    async def take(early: "_Early | None", q: Question, plan: _Plan) -> quota.Reservation:
        """The reservation of the routed call."""
        worst = _worst_case(q, plan.choice.chain, plan.messages)
        if early is not None:
            early.taken = True
            held = await early.task
            if held is not None and held.covers(worst):
                return held
            if held is not None:
                await quota.release(held)
        return await quota.reserve(q.principal, worst)

    @staticmethod
    def unused(early: "_Early | None") -> list[Awaitable[object]]:
        """Giving it back, as one of the final writes of an answer from the cache."""
        return [] if early is None or early.taken else [_given_back(early.task)]

    @staticmethod
    async def abandon(early: "_Early | None") -> None:
        """Given back after a failure (also when the request was cancelled)."""
        if early is not None and not early.taken:
            early.taken = True
            with anyio.CancelScope(shield=True):
                await _given_back(early.task)


def _worst_case(q: Question, chain: tuple[str, ...], messages: list[Message]) -> Decimal:
    return quota.worst_case_usd(chain, messages, q.max_tokens, options_tokens_at_most(q.options))


async def _fitting(q: Question, worst: Decimal) -> quota.Reservation | None:
    """The reservation, or None where it does not fit the budget."""
    try:
        return await quota.reserve(q.principal, worst)
    except TooManyRequests:
        return None


async def _given_back(task: "asyncio.Future[quota.Reservation | None]") -> None:
    try:
        held = await task
    except AetherError:  # it never held anything
        return
    if held is not None:
        await quota.release(held)


async def _tokens(
    q: Question, plan: _Plan, reservation: quota.Reservation, *, streamed: bool
) -> AsyncGenerator[str | ToolCallPieces | Completion]:
    """The model's deltas (none when not streamed), then its Completion, inside the reservation.

    Every call that reached the provider is recorded and charged. The call is read by a task of
    its own, so a client that leaves (its request cancelled or its stream closed) stops being sent
    deltas but not the call: it is read to its end (within the request's deadline) and charged
    the provider's usage. Cut short without usage (the provider broke off, the deadline came),
    it is charged a count that never falls below what it produced (Completion.cut): the bytes
    received, or max_tokens for a whole answer that never came.
    """
    items: _Items = asyncio.Queue()
    reader = asyncio.create_task(_read(_called(q, plan, streamed), items))
    read: list[str] = []  # the deltas the model sent (tool calls as JSON), to the client or after it left
    finished = False
    try:
        while (item := await items.get()) is not None:
            if isinstance(item, BaseException):
                raise item
            if isinstance(item, Completion):
                finished = True
            else:
                read.append(_text(item))
            yield item
    except (UpstreamTimeout, UpstreamError) as exc:
        if exc.model is None:  # it never reached a model, or the model produced nothing
            await quota.release(reservation)
        else:
            received = "".join(read) if streamed else None
            await _charge(
                q,
                plan,
                reservation,
                Completion.cut(exc.model, plan.messages, received, q.max_tokens, q.options),
            )
        raise
    except AetherError:
        await quota.release(reservation)
        raise
    except (GeneratorExit, asyncio.CancelledError):
        if finished:  # closed after the Completion: the caller records it
            raise
        with anyio.CancelScope(shield=True):
            running = not reader.done() or not items.empty()  # else its end was read already
            completion = await _rest(items, read) if running else None
            if completion is None:
                received = "".join(read) if streamed else None
                completion = Completion.cut(
                    plan.choice.model, plan.messages, received, q.max_tokens, q.options
                )
            await _charge(q, plan, reservation, completion)
            await asyncio.wait([reader])
        raise


_Items = asyncio.Queue[str | ToolCallPieces | Completion | BaseException | None]


def _text(item: str | ToolCallPieces) -> str:
    return item if isinstance(item, str) else json.dumps(item, separators=(",", ":"))


async def _read(calls: AsyncGenerator[str | ToolCallPieces | Completion], items: _Items) -> None:
    """Every item of the call into `items`, then None; or the exception that ended it."""
    try:
        async for item in calls:
            items.put_nowait(item)
    except BaseException as exc:
        items.put_nowait(exc)
        if not isinstance(exc, Exception):
            raise
        return
    items.put_nowait(None)


async def _rest(items: _Items, read: list[str]) -> Completion | None:
    """The rest of a call whose client left (its deltas added to `read`), for the provider's
    usage; None if the call breaks or its deadline comes first (the call keeps the deadline)."""
    while (item := await items.get()) is not None:
        if isinstance(item, Completion):
            return item
        if isinstance(item, BaseException):
            return None
        read.append(_text(item))
    return None


async def _charge(q: Question, plan: _Plan, reservation: quota.Reservation, completion: Completion) -> None:
    """Record and settle a call that did not end in an answer."""
    record = replace(_record(q, Answer(plan.head, completion, None, 0.0, None), plan.task), partial=True)
    await quota.charge(reservation, [record])


async def _called(
    q: Question, plan: _Plan, streamed: bool
) -> AsyncGenerator[str | ToolCallPieces | Completion]:
    chain, messages = plan.choice.chain, plan.messages
    given: dict[str, Any] = {
        "temperature": q.temperature,
        "max_tokens": q.max_tokens,
        "invocation": q.invocation,
        "options": q.options,
    }
    if not streamed:
        yield await complete(chain, messages, **given)
        return
    async for item in stream(chain, messages, **given):
        yield item


async def _finish(
    q: Question,
    result: Answer,
    reservation: quota.Reservation | None,
    asked_at: datetime,
    task: str | None,
    *also: Awaitable[object],
    stores: Sequence[Callable[[], Awaitable[object]]] = (),
) -> Answer:
    """Record and settle, and store, concurrently; the Answer says whether its turn was stored.
    `stores` (the answer's cache write) go in the settlement's Redis stage, after the record."""
    record = _record(q, result, task)
    charged = (
        quota.charge(reservation, [record], beside=stores)
        if reservation is not None
        else asyncio.gather(usage.record(record), *(store() for store in stores))
    )
    writes: list[Awaitable[object]] = [
        charged,
        rate_limits().refresh_if_due(TIERS[MODELS[result.completion.model].tier]),
        *also,
    ]
    if q.conversation_id is None:
        await asyncio.gather(*writes)
        return result
    saved, *_ = await asyncio.gather(conversations.save_turn(_turn(q, result, asked_at)), *writes)
    result.stored = bool(saved)
    return result


def _turn(q: Question, result: Answer, asked_at: datetime) -> conversations.Turn:
    assert q.conversation_id is not None
    completion = result.completion
    return conversations.Turn(
        user_id=q.principal.user_id,
        conversation_id=q.conversation_id,
        is_new=q.is_new,
        agent=result.head.agent,
        model=completion.model,
        user_message=q.message,
        answer=completion.content,
        prompt_tokens=completion.prompt_tokens,
        completion_tokens=completion.completion_tokens,
        asked_at=asked_at,
    )


def usage_record(
    principal: Principal,
    invocation: Invocation,
    endpoint: str,
    agent: str,
    completion: Completion,
    *,
    latency_ms: float,
    task: str | None,
    cache_tier: str | None = None,
    conversation_id: ObjectId | None = None,
) -> usage.UsageRecord:
    """The usage record of one model call, or of a cache hit (nothing spent, the saving noted)."""
    from_cache = cache_tier is not None
    return usage.UsageRecord(
        user_id=principal.user_id,
        endpoint=endpoint,
        agent=agent,
        model=completion.model,
        prompt_tokens=0 if from_cache else completion.prompt_tokens,
        completion_tokens=0 if from_cache else completion.completion_tokens,
        cost_usd=0.0 if from_cache else completion.cost_usd,
        latency_ms=latency_ms,
        request_id=invocation.request_id,
        cache_tier=cache_tier,
        conversation_id=str(conversation_id) if conversation_id is not None else None,
        tier=MODELS[completion.model].tier,
        task=task,
        baseline_cost_usd=baseline_cost_usd(completion.prompt_tokens, completion.completion_tokens),
        saved_cost_usd=completion.cost_usd if from_cache else 0.0,
    )


def _record(q: Question, result: Answer, task: str | None) -> usage.UsageRecord:
    return usage_record(
        q.principal,
        q.invocation,
        q.endpoint,
        result.head.agent,
        result.completion,
        latency_ms=result.latency_ms,
        task=task,
        cache_tier=result.cache_tier,
        conversation_id=q.conversation_id,
    )


def _cache_value(completion: Completion, plan: _Plan) -> bytes:
    head = plan.head
    decided = {"agent": head.agent, "routing": head.routing, "task": plan.task}
    return completion.cache_value(**decided, model_reason=plan.choice.explain(completion.model))


def _cached_head(stored: dict[str, Any]) -> Head:
    model = stored["model"]
    return Head(stored["agent"], model, MODELS[model].tier, stored["model_reason"], stored["routing"])


def _since(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 2)
