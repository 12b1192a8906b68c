"""chat function: single-agent chat routes."""

from functools import partial
from typing import Annotated, Any

from fastapi import Path, Query
from fastapi.responses import StreamingResponse

from aether.http import API_PREFIX, CurrentPrincipal, RequestInvocation, create_app, lambda_handler
from aether.idempotency import IdempotencyKey, once, once_stream
from aether.services import chat, conversations, openai_compat
from aether.services import chat_stream as streaming

app = create_app("chat")


@app.post(f"{API_PREFIX}/chat/optimized")
async def chat_optimized(
    body: chat.ChatRequest,
    principal: CurrentPrincipal,
    invocation: RequestInvocation,
    key: IdempotencyKey = None,
) -> chat.ChatAnswer:
    answer = partial(chat.chat, body, principal, invocation)
    return await once(principal, invocation, key, "chat/optimized", body, answer, chat.ChatAnswer)


@app.post(f"{API_PREFIX}/chat/quick")
async def chat_quick(
    body: chat.QuickRequest,
    principal: CurrentPrincipal,
    invocation: RequestInvocation,
    key: IdempotencyKey = None,
) -> chat.ChatAnswer:
    answer = partial(chat.quick, body, principal, invocation)
    return await once(principal, invocation, key, "chat/quick", body, answer, chat.ChatAnswer)


@app.post(f"{API_PREFIX}/chat/stream", response_model=None)
async def chat_stream(
    body: chat.ChatRequest,
    principal: CurrentPrincipal,
    invocation: RequestInvocation,
    key: IdempotencyKey = None,
) -> StreamingResponse:
    produce = partial(streaming.chat_stream, body, principal, invocation)
    events = await once_stream(principal, invocation, key, "chat/stream", body, produce, final=b"event: done")
    return StreamingResponse(events, media_type="text/event-stream", headers={"cache-control": "no-cache"})


@app.get(f"{API_PREFIX}/agents")
async def agents(principal: CurrentPrincipal) -> dict[str, list[dict[str, str]]]:
    return await chat.agents()


@app.get(f"{API_PREFIX}/conversations")
async def conversations_list(
    principal: CurrentPrincipal,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: str | None = None,
) -> conversations.ConversationPage:
    return await conversations.list_page(principal, limit, cursor)


@app.get(f"{API_PREFIX}/conversations/search")
async def conversations_search(
    principal: CurrentPrincipal,
    q: conversations.SearchText,
    limit: Annotated[int, Query(ge=1, le=50)] = 20,
) -> conversations.SearchResults:
    return await conversations.search(principal, q, limit)


@app.post(f"{API_PREFIX}/cache/clear")
async def cache_clear(principal: CurrentPrincipal) -> dict[str, str]:
    return await chat.clear_cache(principal)


@app.post("/v1/chat/completions", response_model=None)
async def openai_chat_completions(
    body: openai_compat.CompletionRequest,
    principal: CurrentPrincipal,
    invocation: RequestInvocation,
    key: IdempotencyKey = None,
) -> dict[str, Any] | StreamingResponse:
    """OpenAI's chat completions, streaming or not."""
    if not body.stream:
        answer = partial(openai_compat.completion, body, principal, invocation)
        return await once(principal, invocation, key, "v1/chat/completions", body, answer, dict[str, Any])
    produce = partial(openai_compat.completion_stream, body, principal, invocation)
    events = await once_stream(
        principal, invocation, key, "v1/chat/completions", body, produce, final=b"data: [DONE]"
    )
    return StreamingResponse(events, media_type="text/event-stream", headers={"cache-control": "no-cache"})


@app.get("/v1/models")
async def openai_models(principal: CurrentPrincipal) -> dict[str, Any]:
    return openai_compat.models()


@app.get("/v1/models/{model:path}")
async def openai_model(
    model: Annotated[str, Path(json_schema_extra={"enum": openai_compat.NAMES})], principal: CurrentPrincipal
) -> dict[str, Any]:
    return openai_compat.model(model)


handler = lambda_handler(app)
