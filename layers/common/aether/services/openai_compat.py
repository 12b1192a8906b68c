"""OpenAI's chat completions API on top of Aether: clients that speak OpenAI need no new code.

`model` is an agent alias (`aether-auto`, `aether-dev`, ...) or a catalog model id (pinned). The
last message is the question and the earlier user and assistant messages its history; system
messages may only lead the list, as instructions added after the agent's own. Other roles (`tool`,
`function`, `developer`, ...) are refused, as is history over MAX_HISTORY_MESSAGES messages or
MAX_HISTORY_CHARS characters. Routing, model choice, the cache and usage records apply as on
/chat/optimized; nothing is stored as a conversation.
"""

import asyncio
import json
import time
from collections.abc import AsyncIterator
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from aether import quota
from aether.agents.catalog import AGENTS
from aether.agents.choice import choose_model
from aether.agents.router import Conversation, Route
from aether.cache import get_cache, responses
from aether.core import Invocation, Principal
from aether.errors import AetherError, BadRequest
from aether.llm.catalog import MODELS
from aether.llm.client import Completion
from aether.services.chat import usage_record
from aether.services.chat_stream import metered_tokens
from aether.services.routing import decide
from aether.settings import get_settings
from aether.store import usage

__all__ = ["ALIASES", "CompletionRequest", "completions", "models"]

ENDPOINT = "v1/chat/completions"
ALIASES = {"aether-auto": "auto", **{f"aether-{name}": name for name in AGENTS}}
ROLES = ("system", "user", "assistant")


class Message(BaseModel):
    role: str = Field(json_schema_extra={"enum": list(ROLES)})  # checked with its place (_split)
    content: str


class CompletionRequest(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "model": "aether-auto",
                    "messages": [
                        {"role": "system", "content": "Answer briefly."},
                        {"role": "user", "content": "How do I paginate a FastAPI endpoint?"},
                    ],
                }
            ]
        }
    )

    model: str = Field(json_schema_extra={"enum": [*ALIASES, *MODELS]})
    messages: list[Message] = Field(min_length=1)  # at most MAX_HISTORY_MESSAGES + 1 (_split)
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
    """The question, the history and the leading system instructions; 400 for a list that breaks
    the rules (OpenAI answers 400 to an invalid message list too)."""
    settings = get_settings()
    for index, message in enumerate(request.messages):
        if message.role not in ROLES:
            raise BadRequest(
                f"messages[{index}] has role '{message.role[:40]}': only system (leading instructions), "
                "user and assistant messages are accepted"
            )
    *earlier, last = request.messages
    if last.role != "user":
        raise BadRequest("the last message must be the user's")
    limit = settings.max_message_chars
    if not last.content.strip() or len(last.content) > limit:
        raise BadRequest(f"the last message must have 1 to {limit} characters")
    leading = next((i for i, m in enumerate(earlier) if m.role != "system"), len(earlier))
    late = next((i for i in range(leading, len(earlier)) if earlier[i].role == "system"), None)
    if late is not None:
        raise BadRequest(
            f"messages[{late}] is a system message after the conversation started: "
            "system messages may only lead the list"
        )
    if len(earlier) > settings.max_history_messages:
        raise BadRequest(
            f"{len(earlier)} messages precede the last one; the limit is {settings.max_history_messages}"
        )
    chars = sum(len(m.content) for m in earlier)
    if chars > settings.max_history_chars:
        raise BadRequest(
            f"the messages before the last one hold {chars} characters; "
            f"the limit is {settings.max_history_chars}"
        )
    history = [{"role": m.role, "content": m.content} for m in earlier[leading:]]
    instructions = [m.content for m in earlier[:leading]]
    return last.content, history, instructions


def _completion_body(
    completion: Completion, invocation: Invocation, decision: Route, cache_tier: str | None
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
            "agent": decision.agent,
            "routing": decision.summary(),
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
    prompt, history, instructions = _split(request)  # a refused list counts against no limit
    await quota.admit(principal)
    alias = ALIASES.get(request.model)
    earlier = "\n".join(m["content"] for m in history[-6:] if m["role"] == "user")  # its agent is kept
    decision = await decide(alias or "auto", prompt, Conversation(earlier=earlier), principal, invocation)
    agent = AGENTS[decision.agent]
    choice = choose_model(decision, None if alias else request.model)
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
        reserved: list[quota.Reservation] = []  # settled beside the usage record

        async def ask() -> bytes:
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
        await asyncio.gather(
            usage.record(
                usage_record(
                    principal,
                    invocation,
                    ENDPOINT,
                    agent.name,
                    completion,
                    cache_tier,
                    latency_ms,
                    task=decision.task,
                )
            ),
            *(quota.settle(reservation, completion.cost_usd) for reservation in reserved),
        )
        return _completion_body(completion, invocation, decision, cache_tier)

    cached = await cache.get(principal.user_id, digest, tiers)
    reservation = (
        None
        if cached is not None
        else await quota.reserve(principal, quota.worst_case_usd(choice.chain, messages, request.max_tokens))
    )

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

        routed = {"agent": decision.agent, "routing": decision.summary()}
        yield chunk(choice.model, {"role": "assistant", "content": ""}, aether=routed)
        completion: Completion | None = None
        if cached is not None:
            completion = Completion.from_cache(json.loads(cached.value))
            yield chunk(completion.model, {"content": completion.content})
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
                        yield chunk(choice.model, {"content": item})
            except AetherError as exc:
                error = {"error": {"message": exc.message, "type": exc.code, "param": None, "code": exc.code}}
                yield f"data: {json.dumps(error)}\n\n".encode()
                return
            finally:
                await tokens.aclose()  # if this generator was closed mid-stream, so is the model's
        assert completion is not None
        cache_tier = cached.tier if cached is not None else None
        latency_ms = round((time.perf_counter() - started) * 1000, 2)
        writes = [
            usage.record(
                usage_record(
                    principal,
                    invocation,
                    ENDPOINT,
                    agent.name,
                    completion,
                    cache_tier,
                    latency_ms,
                    task=decision.task,
                )
            )
        ]
        if reservation is not None:
            writes += [
                cache.put(
                    principal.user_id, digest, completion.cache_value(), settings.response_cache_ttl_s, tiers
                ),
                quota.settle(reservation, completion.cost_usd),
            ]
        await asyncio.gather(*writes)
        tokens = {
            "prompt_tokens": completion.prompt_tokens,
            "completion_tokens": completion.completion_tokens,
            "total_tokens": completion.prompt_tokens + completion.completion_tokens,
        }
        yield chunk(completion.model, {}, "stop", usage=tokens)
        yield b"data: [DONE]\n\n"

    return chunks()
