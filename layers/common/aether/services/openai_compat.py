"""OpenAI's chat completions API on top of Aether: clients that speak OpenAI need no new code.

`model` is an agent alias (`aether-auto`, `aether-dev`, ...) or a catalog model id (pinned). The
last message is the question and the earlier user and assistant messages its history; system
messages may only lead the list, as instructions added after the agent's own. Other roles (`tool`,
`function`, `developer`, ...) are refused, as is history over MAX_HISTORY_MESSAGES messages or
MAX_HISTORY_CHARS characters. Routing, model choice, the cache and usage records apply as on
/chat/optimized; nothing is stored as a conversation.
"""

import json
import time
from collections.abc import AsyncGenerator, AsyncIterator
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from aether.agents.catalog import AGENTS
from aether.core import Invocation, Principal
from aether.errors import AetherError, BadRequest
from aether.llm.catalog import MODELS
from aether.llm.client import Completion
from aether.services.answering import Answer, Head, Question, answer, answer_stream
from aether.settings import get_settings

__all__ = ["ALIASES", "CompletionRequest", "completion", "completion_stream", "models"]

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


def _body(result: Answer, invocation: Invocation) -> dict[str, Any]:
    completion = result.completion
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
        "usage": _usage(completion),
        "aether": {
            "agent": result.head.agent,
            "routing": result.head.routing,
            "cached": result.cache_tier is not None,
            "cache_tier": result.cache_tier,
            "cost_usd": result.cost_usd,
        },
    }


def _usage(completion: Completion) -> dict[str, int]:
    return {
        "prompt_tokens": completion.prompt_tokens,
        "completion_tokens": completion.completion_tokens,
        "total_tokens": completion.prompt_tokens + completion.completion_tokens,
    }


async def completion(
    request: CompletionRequest, principal: Principal, invocation: Invocation
) -> dict[str, Any]:
    """The whole answer as OpenAI's chat.completion."""
    return _body(await answer(await _question(request, principal, invocation)), invocation)


async def completion_stream(
    request: CompletionRequest, principal: Principal, invocation: Invocation
) -> AsyncIterator[bytes]:
    """The answer as OpenAI's chat.completion.chunk events, the last one with the usage."""
    head, items = await answer_stream(await _question(request, principal, invocation))
    return _chunks(head, items, invocation)


async def _question(request: CompletionRequest, principal: Principal, invocation: Invocation) -> Question:
    prompt, history, instructions = _split(request)  # a refused list counts against no limit
    alias = ALIASES.get(request.model)
    return Question(
        principal,
        invocation,
        ENDPOINT,
        prompt,
        request.temperature,
        request.max_tokens,
        agent=alias or "auto",
        model=None if alias else request.model,
        history=history,
        earlier="\n".join(m["content"] for m in history[-6:] if m["role"] == "user"),  # its agent is kept
        instructions=tuple(instructions),
    )


async def _chunks(
    head: Head, items: AsyncGenerator[str | Answer], invocation: Invocation
) -> AsyncIterator[bytes]:
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

    yield chunk(
        head.model,
        {"role": "assistant", "content": ""},
        aether={"agent": head.agent, "routing": head.routing},
    )
    try:
        async for item in items:
            if isinstance(item, Answer):
                yield chunk(item.completion.model, {}, "stop", usage=_usage(item.completion))
                yield b"data: [DONE]\n\n"
            else:
                yield chunk(head.model, {"content": item})
    except AetherError as exc:
        error = {"error": {"message": exc.message, "type": exc.code, "param": None, "code": exc.code}}
        yield f"data: {json.dumps(error)}\n\n".encode()
    finally:
        await items.aclose()  # if this generator was closed mid-stream, so is the model's
