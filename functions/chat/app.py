"""chat function: single-agent chat routes."""

from aether.http import API_PREFIX, CurrentPrincipal, RequestInvocation, create_app, lambda_handler, not_built
from aether.services import chat

app = create_app("chat")


@app.post(f"{API_PREFIX}/chat/optimized")
async def chat_optimized(
    body: chat.ChatRequest, principal: CurrentPrincipal, invocation: RequestInvocation
) -> chat.ChatAnswer:
    return await chat.chat(body, principal, invocation)


@app.post(f"{API_PREFIX}/chat/quick")
async def chat_quick(
    body: chat.QuickRequest, principal: CurrentPrincipal, invocation: RequestInvocation
) -> chat.ChatAnswer:
    return await chat.quick(body, principal, invocation)


@app.post(f"{API_PREFIX}/chat/stream")
async def chat_stream(principal: CurrentPrincipal) -> None:
    not_built("streaming chat")


@app.get(f"{API_PREFIX}/agents")
async def agents(principal: CurrentPrincipal) -> dict[str, list[dict[str, str]]]:
    return await chat.agents()


@app.get(f"{API_PREFIX}/conversations")
async def conversations(principal: CurrentPrincipal) -> None:
    not_built("conversation listing")


@app.get(f"{API_PREFIX}/conversations/search")
async def conversations_search(principal: CurrentPrincipal) -> None:
    not_built("conversation search")


@app.post(f"{API_PREFIX}/cache/clear")
async def cache_clear(principal: CurrentPrincipal) -> dict[str, str]:
    return await chat.clear_cache(principal)


handler = lambda_handler(app)
