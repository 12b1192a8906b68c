"""OpenAI's chat completions API on top of Aether: clients that speak OpenAI need no new code.

`model` is an agent alias (`aether-auto`, `aether-dev`, ...) or a catalog model id (pinned). The
last message is the question and the earlier user and assistant messages its history; system
messages are added after the agent's own. Routing, model choice, the cache and usage records
apply as on /chat/optimized; nothing is stored as a conversation.
"""

import json
import time
from collections.abc import AsyncIterator
from typing import Any, Literal

from pydantic import BaseModel, Field, field_validator

from aether.agents.catalog import AGENTS
from aether.agents.complexity import choose_model
from aether.cache import get_cache, responses
from aether.errors import AetherError, BadRequest
from aether.http import Invocation, Principal
from aether.llm.catalog import MODELS
from aether.llm.client import Completion, complete, stream
from aether.services.chat import pick_agent, usage_record
from aether.settings import get_settings
from aether.store import usage

__all__ = ["ALIASES", "CompletionRequest", "completions", "models"]

ENDPOINT = "v1/chat/completions"
ALIASES = {"aether-auto": "auto", **{f"aether-{name}": name for name in AGENTS}}


class Message(BaseModel):
    role: Literal["system", "user", "assistant"]
    content: str


class CompletionRequest(BaseModel):
    model: str
    messages: list[Message] = Field(min_length=1, max_length=100)
    temperature: float = Field(0.7, ge=0.0, le=2.0)
    max_tokens: int = Field(1024, ge=1, le=8192)
    stream: bool = False

    @field_validator("model")
    @classmethod
    def _model(cls, value: str) -> str:
        if value not in ALIASES and value not in MODELS:
            raise ValueError(f"unknown model '{value}'; choose one of {', '.join([*ALIASES, *MODELS])}")
        return value


def models() -> dict[str, Any]:
    return {
        "object": "list",
        "data": [
            {"id": name, "object": "model", "created": 0, "owned_by": "aether"}
            for name in [*ALIASES, *MODELS]
        ],
    }


def _split(request: CompletionRequest) -> tuple[str, list[dict[str, str]], list[str]]:
    *earlier, last = request.messages
    if last.role != "user":
        raise BadRequest("the last message must be the user's")
    limit = get_settings().max_message_chars
    if not last.content.strip() or len(last.content) > limit:
        raise BadRequest(f"the last message must have 1 to {limit} characters")
    history = [{"role": m.role, "content": m.content} for m in earlier if m.role != "system"]
    instructions = [m.content for m in earlier if m.role == "system"]
    return last.content, history, instructions


def _completion_body(
    completion: Completion, invocation: Invocation, agent: str, cache_tier: str | None
) -> dict[str, Any]:
    return {
        "id": f"chatcmpl-{invocation.request_id}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": completion.model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": completion.content},
                "finish_reason": "stop",
            }
        ],
        "usage": {
            "prompt_tokens": completion.prompt_tokens,
            "completion_tokens": completion.completion_tokens,
            "total_tokens": completion.prompt_tokens + completion.completion_tokens,
        },
        "aether": {
            "agent": agent,
            "cached": cache_tier is not None,
            "cache_tier": cache_tier,
            "cost_usd": 0.0 if cache_tier else completion.cost_usd,
        },
    }


async def completions(
    request: CompletionRequest, principal: Principal, invocation: Invocation
) -> dict[str, Any] | AsyncIterator[bytes]:
    started = time.perf_counter()
    settings = get_settings()
    prompt, history, instructions = _split(request)
    alias = ALIASES.get(request.model)
    agent, _ = pick_agent(alias or "auto", prompt)
    choice = choose_model(prompt, agent.name, len(history), None if alias else request.model)
    system = "\n\n".join([agent.system_prompt, *instructions])
    messages = [{"role": "system", "content": system}, *history, {"role": "user", "content": prompt}]
    digest = responses.digest(
        agent=agent.name,
        model=choice.model,
        prompt=prompt,
        history=[*history, {"system": system}],
        temperature=request.temperature,
        max_tokens=request.max_tokens,
    )
    tiers = ("l2", "l3")
    cache = get_cache()
    if not request.stream:
        computed: list[Completion] = []

        async def ask() -> bytes:
            completion = await complete(
                choice.chain,
                messages,
                temperature=request.temperature,
                max_tokens=request.max_tokens,
                invocation=invocation,
            )
            computed.append(completion)
            return completion.cache_value()

        lookup = await cache.get_or_compute(
            principal.user_id,
            digest,
            ask,
            ttl_s=settings.response_cache_ttl_s,
            tiers=tiers,
            deadline=invocation.deadline,
        )
        completion = computed[0] if computed else Completion.from_cache(json.loads(lookup.value))
        cache_tier = None if computed else lookup.tier
        latency_ms = round((time.perf_counter() - started) * 1000, 2)
        await usage.record(
            usage_record(principal, invocation, ENDPOINT, agent.name, completion, cache_tier, latency_ms)
        )
        return _completion_body(completion, invocation, agent.name, cache_tier)

    cached = await cache.get(principal.user_id, digest, tiers)

    async def chunks() -> AsyncIterator[bytes]:
        base = {
            "id": f"chatcmpl-{invocation.request_id}",
            "object": "chat.completion.chunk",
            "created": int(time.time()),
        }

        def chunk(model: str, delta: dict[str, str], finish: str | None = None, **extra: Any) -> bytes:
            body = {
                **base,
                "model": model,
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
                **extra,
            }
            return f"data: {json.dumps(body, separators=(',', ':'))}\n\n".encode()

        yield chunk(choice.model, {"role": "assistant", "content": ""})
        completion: Completion | None = None
        if cached is not None:
            completion = Completion.from_cache(json.loads(cached.value))
            yield chunk(completion.model, {"content": completion.content})
        else:
            try:
                async for item in stream(
                    choice.chain,
                    messages,
                    temperature=request.temperature,
                    max_tokens=request.max_tokens,
                    invocation=invocation,
                ):
                    if isinstance(item, Completion):
                        completion = item
                    else:
                        yield chunk(choice.model, {"content": item})
            except AetherError as exc:
                error = {"error": {"message": exc.message, "type": exc.code, "param": None, "code": exc.code}}
                yield f"data: {json.dumps(error)}\n\n".encode()
                return
        assert completion is not None
        cache_tier = cached.tier if cached is not None else None
        latency_ms = round((time.perf_counter() - started) * 1000, 2)
        await usage.record(
            usage_record(principal, invocation, ENDPOINT, agent.name, completion, cache_tier, latency_ms)
        )
        if cached is None:
            await cache.put(
                principal.user_id, digest, completion.cache_value(), settings.response_cache_ttl_s, tiers
            )
        tokens = {
            "prompt_tokens": completion.prompt_tokens,
            "completion_tokens": completion.completion_tokens,
            "total_tokens": completion.prompt_tokens + completion.completion_tokens,
        }
        yield chunk(completion.model, {}, "stop", usage=tokens)
        yield b"data: [DONE]\n\n"

    return chunks()
