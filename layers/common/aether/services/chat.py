"""Chat use cases: one agent answering, with history, cache and usage recording."""

import asyncio
import json
import time
from collections.abc import Awaitable
from datetime import UTC, datetime

from bson import ObjectId
from pydantic import BaseModel, Field, field_validator

from aether import quota
from aether.agents.catalog import AGENTS
from aether.agents.choice import ModelChoice, choose_model
from aether.agents.router import Conversation
from aether.cache import get_cache, responses
from aether.cache.decorator import cached
from aether.core import Invocation, Principal
from aether.llm.catalog import MODELS, TIERS, baseline_cost_usd
from aether.llm.client import Completion, rate_limits
from aether.services.routing import decide
from aether.settings import get_settings
from aether.store import conversations, usage

__all__ = [
    "ChatAnswer",
    "ChatRequest",
    "QuickRequest",
    "agents",
    "chat",
    "clear_cache",
    "quick",
    "turn_writes",
    "usage_record",
]

AGENT_CHOICES = ("auto", *AGENTS)


class Routing(BaseModel):
    """What the router decided: the agent (and how: `classifier`, `low confidence` for the default
    agent, `named` in the message, kept from the `conversation`, or `requested`), the task kind
    and the tier, each with its probability."""

    agent: str
    agent_confidence: float
    agent_reason: str
    task: str
    task_confidence: float
    tier: str
    tier_confidence: float


class QuickRequest(BaseModel):
    message: str
    temperature: float = Field(0.7, ge=0.0, le=2.0)
    max_tokens: int = Field(512, ge=1, le=2048)

    @field_validator("message")
    @classmethod
    def _message(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be empty")
        limit = get_settings().max_message_chars
        if len(value) > limit:
            raise ValueError(f"is {len(value)} characters long; the limit is {limit}")
        return value


class ChatRequest(QuickRequest):
    agent: str = "auto"
    conversation_id: str | None = None
    model: str | None = None  # pin a catalog model (no fallbacks)
    max_tokens: int = Field(1024, ge=1, le=8192)

    @field_validator("model")
    @classmethod
    def _model(cls, value: str | None) -> str | None:
        if value is not None and value not in MODELS:
            raise ValueError(f"unknown model '{value}'; choose one of {', '.join(MODELS)}")
        return value

    @field_validator("agent")
    @classmethod
    def _agent(cls, value: str) -> str:
        if value not in AGENT_CHOICES:
            raise ValueError(f"unknown agent '{value}'; choose one of {', '.join(AGENT_CHOICES)}")
        return value

    @field_validator("conversation_id")
    @classmethod
    def _conversation_id(cls, value: str | None) -> str | None:
        if value is not None and not ObjectId.is_valid(value):
            raise ValueError("is not a conversation id (24 hexadecimal characters)")
        return value


class ChatAnswer(BaseModel):
    content: str
    agent: str
    routing: Routing
    model: str
    tier: str
    model_reason: str
    prompt_tokens: int
    completion_tokens: int
    cost_usd: float
    latency_ms: float
    conversation_id: str | None
    request_id: str
    cached: bool = False
    cache_tier: str | None = None
    saved_cost_usd: float = 0.0
    # true: the turn is saved in conversation_id; false: it could not be saved (a write failed
    # twice), and conversation_id is null if the conversation was new; null: a route that keeps
    # no conversation
    stored: bool | None = None


async def chat(request: ChatRequest, principal: Principal, invocation: Invocation) -> ChatAnswer:
    """Answer from the cache when it can, before any routing; else route, choose a model and ask it.

    The cache key holds the request as given (`auto` or the agent, the pinned model or none) with
    the history and parameters: routing and model choice are functions of those, so a hit needs
    neither, and what they decided is kept in the cached answer.
    """
    started = time.perf_counter()
    asked_at = datetime.now(UTC)
    settings = get_settings()
    await quota.admit(principal)
    is_new = request.conversation_id is None
    conversation_id = ObjectId() if is_new else ObjectId(request.conversation_id)
    history = (
        conversations.History([], None)
        if is_new
        else await conversations.load_history(principal.user_id, conversation_id, settings.history_limit)
    )
    scope = "shared" if settings.cache_shared_scope and not history.messages else principal.user_id
    computed: list[Completion] = []
    reserved: list[quota.Reservation] = []  # settled beside the final writes

    async def ask_model() -> bytes:
        decision = await decide(
            request.agent, request.message, Conversation(agent=history.agent), principal, invocation
        )
        choice = choose_model(decision, request.model)
        agent = AGENTS[decision.agent]
        messages = [{"role": "system", "content": agent.system_prompt}, *history.messages]
        messages.append({"role": "user", "content": request.message})
        completion, reservation = await quota.metered(
            principal,
            choice.chain,
            messages,
            temperature=request.temperature,
            max_tokens=request.max_tokens,
            invocation=invocation,
        )
        computed.append(completion)
        reserved.append(reservation)
        decided = {
            "agent": agent.name,
            "routing": decision.summary(),
            "model_reason": choice.explain(completion.model),
        }
        return completion.cache_value(**decided)

    lookup = await get_cache().get_or_compute(
        scope,
        responses.digest(
            # a follow-up routed with `auto` stays with the conversation's agent: part of the key
            agent=request.agent if request.agent != "auto" else f"auto:{history.agent or ''}",
            model=request.model or "",
            prompt=request.message,
            history=history.messages,
            temperature=request.temperature,
            max_tokens=request.max_tokens,
        ),
        ask_model,
        ttl_s=settings.response_cache_ttl_s,
        tiers=("l1", "l3") if scope == "shared" else ("l2", "l3"),
        deadline=invocation.deadline,
    )
    stored = json.loads(lookup.value)
    completion = computed[0] if computed else Completion.from_cache(stored)
    cache_tier = None if computed else lookup.tier
    latency_ms = round((time.perf_counter() - started) * 1000, 2)
    agent_name = stored["agent"]
    routing = Routing(**stored["routing"])
    turn = conversations.Turn(
        user_id=principal.user_id,
        conversation_id=conversation_id,
        is_new=is_new,
        agent=agent_name,
        model=completion.model,
        user_message=request.message,
        answer=completion.content,
        prompt_tokens=completion.prompt_tokens,
        completion_tokens=completion.completion_tokens,
        asked_at=asked_at,
    )
    writes = turn_writes(
        principal,
        invocation,
        "chat/optimized",
        agent_name,
        completion,
        cache_tier,
        latency_ms,
        turn,
        routing.task,
    )
    saved, *_ = await asyncio.gather(
        *writes, *(quota.settle(reservation, completion.cost_usd) for reservation in reserved)
    )
    return _answer(
        completion,
        agent_name,
        stored["model_reason"],
        routing,
        str(conversation_id) if saved or not is_new else None,
        invocation,
        latency_ms,
        cache_tier,
        stored=bool(saved),
    )


async def quick(request: QuickRequest, principal: Principal, invocation: Invocation) -> ChatAnswer:
    """Small model, no history, no conversation: one model call and one usage record."""
    started = time.perf_counter()
    await quota.admit(principal)
    decision = await decide("auto", request.message, None, principal, invocation)
    agent = AGENTS[decision.agent]
    choice = ModelChoice("small", TIERS["small"][0], TIERS["small"], "small tier: quick route")
    messages = [
        {"role": "system", "content": agent.system_prompt},
        {"role": "user", "content": request.message},
    ]
    completion, reservation = await quota.metered(
        principal,
        choice.chain,
        messages,
        temperature=request.temperature,
        max_tokens=request.max_tokens,
        invocation=invocation,
    )
    latency_ms = round((time.perf_counter() - started) * 1000, 2)
    await asyncio.gather(
        usage.record(
            usage_record(
                principal,
                invocation,
                "chat/quick",
                agent.name,
                completion,
                None,
                latency_ms,
                task=decision.task,
            )
        ),
        quota.settle(reservation, completion.cost_usd),
    )
    routing = Routing(**decision.summary())
    return _answer(
        completion, agent.name, choice.explain(completion.model), routing, None, invocation, latency_ms, None
    )


def turn_writes(
    principal: Principal,
    invocation: Invocation,
    endpoint: str,
    agent: str,
    completion: Completion,
    cache_tier: str | None,
    latency_ms: float,
    turn: conversations.Turn,
    task: str | None,
) -> list[Awaitable[object]]:
    """The writes that end a chat turn, to run concurrently: the conversation and its messages
    (first: its result says whether the turn was stored), the usage record, and the shared
    rate-limit view if it is due for a re-read."""
    record = usage_record(
        principal,
        invocation,
        endpoint,
        agent,
        completion,
        cache_tier,
        latency_ms,
        str(turn.conversation_id),
        task=task,
    )
    return [
        conversations.save_turn(turn),
        usage.record(record),
        rate_limits().refresh_if_due(TIERS[MODELS[completion.model].tier]),
    ]


def usage_record(
    principal: Principal,
    invocation: Invocation,
    endpoint: str,
    agent: str,
    completion: Completion,
    cache_tier: str | None,
    latency_ms: float,
    conversation_id: str | None = None,
    *,
    task: str | None,
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
        conversation_id=conversation_id,
        tier=MODELS[completion.model].tier,
        task=task,
        baseline_cost_usd=baseline_cost_usd(completion.prompt_tokens, completion.completion_tokens),
        saved_cost_usd=completion.cost_usd if from_cache else 0.0,
    )


def _answer(
    completion: Completion,
    agent: str,
    model_reason: str,
    routing: Routing,
    conversation_id: str | None,
    invocation: Invocation,
    latency_ms: float,
    cache_tier: str | None,
    stored: bool | None = None,
) -> ChatAnswer:
    from_cache = cache_tier is not None
    return ChatAnswer(
        content=completion.content,
        agent=agent,
        routing=routing,
        model=completion.model,
        tier=MODELS[completion.model].tier,
        model_reason=model_reason,
        prompt_tokens=completion.prompt_tokens,
        completion_tokens=completion.completion_tokens,
        cost_usd=0.0 if from_cache else completion.cost_usd,
        latency_ms=latency_ms,
        conversation_id=conversation_id,
        request_id=invocation.request_id,
        cached=from_cache,
        cache_tier=cache_tier,
        saved_cost_usd=completion.cost_usd if from_cache else 0.0,
        stored=stored,
    )


@cached(ttl=300, tiers=("l1",))
async def agents() -> dict[str, list[dict[str, str]]]:
    """The agent catalog as the API shows it (memoised in L1: it only changes with a deploy)."""
    return {"agents": [{"name": a.name, "role": a.role} for a in AGENTS.values()]}


async def clear_cache(principal: Principal) -> dict[str, str]:
    """Make the caller's cached answers unreachable in every execution environment."""
    await get_cache().clear(principal.user_id)
    return {"cleared": "user", "user_id": principal.user_id}
