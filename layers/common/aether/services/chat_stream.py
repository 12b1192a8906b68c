"""Streaming chat: server-sent events from the first token to the usage, stored when complete.

Events: `start` (agent, model, tier, routing, conversation_id, request_id), `delta` (text as the
model produces it), `done` (tokens, cost, latency, cache, and `stored`: false when the turn could
not be saved in the conversation `start` named) or `error` (the usual error body). A
cached answer streams at once as one delta; a streamed answer is cached only once complete.
Through an HTTP API the managed Python runtime delivers the stream whole (see README).
"""

import json
from collections.abc import AsyncGenerator, AsyncIterator
from typing import Any

from aether.core import Invocation, Principal
from aether.errors import AetherError
from aether.llm.client import ToolCallPieces
from aether.services.answering import Answer, Head, answer_stream
from aether.services.chat import ChatRequest, conversation_question

__all__ = ["chat_stream", "sse"]

ENDPOINT = "chat/stream"


def sse(event: str, data: dict[str, Any]) -> bytes:
    return f"event: {event}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n".encode()


async def chat_stream(
    request: ChatRequest, principal: Principal, invocation: Invocation
) -> AsyncIterator[bytes]:
    """Validation and history happen before the first byte, so their errors are plain 4xx answers."""
    q = await conversation_question(request, principal, invocation, ENDPOINT)
    head, items = await answer_stream(q)
    return _events(head, items, str(q.conversation_id), invocation)


async def _events(
    head: Head,
    items: AsyncGenerator[str | ToolCallPieces | Answer],
    conversation_id: str,
    invocation: Invocation,
) -> AsyncIterator[bytes]:
    yield sse(
        "start",
        {
            "agent": head.agent,
            "model": head.model,
            "tier": head.tier,
            "model_reason": head.model_reason,
            "routing": head.routing,
            "conversation_id": conversation_id,
            "request_id": invocation.request_id,
        },
    )
    try:
        async for item in items:
            if isinstance(item, Answer):
                yield sse("done", _done(item))
            elif isinstance(item, str):  # tool calls come only to the OpenAI route, which sends tools
                yield sse("delta", {"content": item})
    except AetherError as exc:
        yield sse(
            "error",
            {"error": {"code": exc.code, "message": exc.message, "request_id": invocation.request_id}},
        )
    finally:
        await items.aclose()  # if this generator was closed mid-stream, so is the model's


def _done(result: Answer) -> dict[str, Any]:
    completion = result.completion
    return {
        "stored": bool(result.stored),  # false: the turn is not in the start event's conversation
        "model": completion.model,
        "prompt_tokens": completion.prompt_tokens,
        "completion_tokens": completion.completion_tokens,
        "finish_reason": completion.finish_reason,
        "cost_usd": result.cost_usd,
        "saved_cost_usd": result.saved_cost_usd,
        "latency_ms": result.latency_ms,
        "cached": result.cache_tier is not None,
        "cache_tier": result.cache_tier,
    }
