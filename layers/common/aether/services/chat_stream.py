"""Streaming chat: server-sent events from the first token to the usage, stored when complete.

Events: `start` (agent, model, tier, routing, conversation_id, request_id), `delta` (text as the
model produces it), `done` (tokens, cost, latency, cache, and `stored`: false when the turn could
not be saved in the conversation `start` named) or `error` (the usual error body). A
cached answer streams at once as one delta; a streamed answer is cached only once complete.
Through an HTTP API the managed Python runtime delivers the stream whole (see README).
"""

import asyncio
import json
import time
from collections.abc import AsyncGenerator, AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import anyio
from bson import ObjectId

from aether import quota
from aether.agents.catalog import AGENTS
from aether.agents.choice import ModelChoice, choose_model
from aether.agents.router import Conversation
from aether.cache import get_cache, responses
from aether.core import Invocation, Principal
from aether.errors import AetherError
from aether.llm.catalog import cost_usd
from aether.llm.client import Completion, stream
from aether.services.chat import ChatRequest, turn_writes, usage_record
from aether.services.routing import decide
from aether.settings import get_settings
from aether.store import conversations, usage

__all__ = ["chat_stream", "sse"]

ENDPOINT = "chat/stream"


def _partial(
    principal: Principal,
    invocation: Invocation,
    endpoint: str,
    agent: str,
    model: str,
    messages: list[dict[str, str]],
    sent: list[str],
    task: str | None,
) -> usage.UsageRecord:
    """Usage of a stream cut short: Groq reports usage only at the end, so tokens are estimated
    (a chunk is about one token; the prompt about 1.3 tokens per word)."""
    prompt_tokens = round(1.3 * sum(len(m["content"].split()) for m in messages))
    completion = Completion(
        "".join(sent), model, prompt_tokens, len(sent), cost_usd(model, prompt_tokens, len(sent)), 0.0
    )
    record = usage_record(principal, invocation, endpoint, agent, completion, None, 0.0, task=task)
    return replace(record, partial=True)


async def metered_tokens(
    principal: Principal,
    invocation: Invocation,
    endpoint: str,
    agent: str,
    choice: ModelChoice,
    messages: list[dict[str, str]],
    reservation: quota.Reservation,
    *,
    temperature: float,
    max_tokens: int,
    task: str | None,
) -> AsyncGenerator[str | Completion]:
    """llm.client.stream() inside its budget reservation: token deltas, then the Completion.

    A model failure releases the reservation and raises. A client that goes away (this generator
    closed, or cancelled as Starlette does under uvicorn) stops the model, records the estimated
    usage and settles the reservation to it, shielded, or the cancellation would cancel that too.
    """
    sent: list[str] = []
    tokens = stream(
        choice.chain, messages, temperature=temperature, max_tokens=max_tokens, invocation=invocation
    )
    try:
        async for item in tokens:
            if not isinstance(item, Completion):
                sent.append(item)
            yield item
    except AetherError:
        await quota.settle(reservation, 0.0)
        raise
    except (GeneratorExit, asyncio.CancelledError):
        with anyio.CancelScope(shield=True):
            await tokens.aclose()
            partial = _partial(principal, invocation, endpoint, agent, choice.model, messages, sent, task)
            await asyncio.gather(usage.record(partial), quota.settle(reservation, partial.cost_usd))
        raise


def sse(event: str, data: dict[str, Any]) -> bytes:
    return f"event: {event}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n".encode()


async def chat_stream(
    request: ChatRequest, principal: Principal, invocation: Invocation
) -> AsyncIterator[bytes]:
    """Validation and history happen before the first byte, so their errors are plain 4xx answers."""
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
    decision = await decide(
        request.agent, request.message, Conversation(agent=history.agent), principal, invocation
    )
    agent = AGENTS[decision.agent]
    choice = choose_model(decision, request.model)
    scope = "shared" if settings.cache_shared_scope and not history.messages else principal.user_id
    tiers = ("l1", "l3") if scope == "shared" else ("l2", "l3")
    digest = responses.digest(
        agent=agent.name,
        model=choice.model,
        prompt=request.message,
        history=history.messages,
        temperature=request.temperature,
        max_tokens=request.max_tokens,
    )
    cached = await get_cache().get(scope, digest, tiers)
    messages = [{"role": "system", "content": agent.system_prompt}, *history.messages]
    messages.append({"role": "user", "content": request.message})
    reservation = (
        None
        if cached is not None
        else await quota.reserve(principal, quota.worst_case_usd(choice.chain, messages, request.max_tokens))
    )

    async def events() -> AsyncIterator[bytes]:
        yield sse(
            "start",
            {
                "agent": agent.name,
                "model": choice.model,
                "tier": choice.tier,
                "model_reason": choice.reason,
                "routing": decision.summary(),
                "conversation_id": str(conversation_id),
                "request_id": invocation.request_id,
            },
        )
        completion: Completion | None = None
        if cached is not None:
            completion = Completion.from_cache(json.loads(cached.value))
            yield sse("delta", {"content": completion.content})
        else:
            assert reservation is not None
            tokens = metered_tokens(
                principal,
                invocation,
                ENDPOINT,
                agent.name,
                choice,
                messages,
                reservation,
                temperature=request.temperature,
                max_tokens=request.max_tokens,
                task=decision.task,
            )
            try:
                async for item in tokens:
                    if isinstance(item, Completion):
                        completion = item
                    else:
                        yield sse("delta", {"content": item})
            except AetherError as exc:
                error = {"code": exc.code, "message": exc.message, "request_id": invocation.request_id}
                yield sse("error", {"error": error})
                return
            finally:
                await tokens.aclose()  # if this generator was closed mid-stream, so is the model's
        assert completion is not None
        cache_tier = cached.tier if cached is not None else None
        latency_ms = round((time.perf_counter() - started) * 1000, 2)
        turn = conversations.Turn(
            user_id=principal.user_id,
            conversation_id=conversation_id,
            is_new=is_new,
            agent=agent.name,
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
            ENDPOINT,
            agent.name,
            completion,
            cache_tier,
            latency_ms,
            turn,
            decision.task,
        )
        if reservation is not None:
            writes.append(
                get_cache().put(scope, digest, completion.cache_value(), settings.response_cache_ttl_s, tiers)
            )
            writes.append(quota.settle(reservation, completion.cost_usd))
        saved, *_ = await asyncio.gather(*writes)
        yield sse(
            "done",
            {
                "stored": bool(saved),  # false: the turn is not in the start event's conversation
                "model": completion.model,
                "prompt_tokens": completion.prompt_tokens,
                "completion_tokens": completion.completion_tokens,
                "cost_usd": 0.0 if cached else completion.cost_usd,
                "saved_cost_usd": completion.cost_usd if cached else 0.0,
                "latency_ms": latency_ms,
                "cached": cached is not None,
                "cache_tier": cache_tier,
            },
        )

    return events()
