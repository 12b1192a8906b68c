"""OpenAI's chat completions API on top of Aether: clients that speak OpenAI need no new code.

`model` is an agent alias (`aether-auto`, `aether-dev`, ...: the agent's system prompt leads,
the caller's system messages follow it) or a catalog model id: a raw call, with the caller's
system messages alone. Every parameter is either sent to the provider (PASSED: Groq takes them
as OpenAI defines them) or refused with a 400 that names it (REFUSED, and any field OpenAI does
not define): none is accepted and dropped. The README's parameter table says which is which.

Messages: system (or developer) messages may only lead the list. The last user message is the
question (what routing reads and the cache keys, with everything else); before it, user,
assistant and tool messages are its history; after it only the assistant's tool calls and the
tool results may follow. Content is text, or a list of text parts. Routing, model choice, the
cache and usage records apply as on /chat/optimized; nothing is stored as a conversation.
"""

import json
import time
from collections.abc import AsyncGenerator, AsyncIterator
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from aether.agents.catalog import AGENTS
from aether.core import Invocation, Principal
from aether.errors import AetherError, BadRequest, ModelNotFound, openai_error
from aether.llm.catalog import MODELS, Message
from aether.llm.client import Completion, ToolCallPieces
from aether.services.answering import Answer, Head, Question, answer, answer_stream
from aether.settings import get_settings

__all__ = [
    "ALIASES",
    "PASSED",
    "REFUSED",
    "CompletionRequest",
    "completion",
    "completion_stream",
    "model",
    "models",
]

ENDPOINT = "v1/chat/completions"
ALIASES = {"aether-auto": "auto", **{f"aether-{name}": name for name in AGENTS}}
NAMES = [*ALIASES, *MODELS]  # what `model` may name
PASSED = (  # sent to the provider as given (besides model, messages, temperature, max tokens)
    "stop",
    "seed",
    "top_p",
    "frequency_penalty",
    "presence_penalty",
    "response_format",
    "tools",
    "tool_choice",
    "parallel_tool_calls",
    "user",
)
_NOT_ON_GROQ = "is not supported by the models Aether answers with (Groq)"
REFUSED = {  # OpenAI parameters refused by name, and why
    "logprobs": _NOT_ON_GROQ,
    "top_logprobs": _NOT_ON_GROQ,
    "logit_bias": _NOT_ON_GROQ,
    "functions": "is deprecated by OpenAI and not supported: use tools",
    "function_call": "is deprecated by OpenAI and not supported: use tool_choice",
    "audio": "is not supported: Aether answers in text",
    "modalities": "is not supported: Aether answers in text",
    "prediction": _NOT_ON_GROQ,
    "store": "is not supported: Aether keeps no completions for distillation or evals",
    "metadata": "is not supported: Aether keeps no completions for distillation or evals",
    "service_tier": "is not supported: Aether chooses the model and its fallbacks",
    "reasoning_effort": "is not supported yet",
    "web_search_options": "is not supported",
}


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="forbid")

    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: str | list[dict[str, Any]] | None = None  # text, or text parts
    tool_calls: list[dict[str, Any]] | None = None  # an assistant's
    tool_call_id: str | None = None  # a tool result's
    name: None = None

    @field_validator("content")
    @classmethod
    def _text_parts(cls, value: str | list[dict[str, Any]] | None) -> str | list[dict[str, Any]] | None:
        for part in value if isinstance(value, list) else ():
            if part.get("type") != "text" or not isinstance(part.get("text"), str):
                kind = str(part.get("type"))[:40]
                raise ValueError(f"content parts of type '{kind}' are not supported: only text parts")
        return value

    @field_validator("name", mode="before")
    @classmethod
    def _no_name(cls, value: object) -> None:
        if value is not None:
            raise ValueError(f"a message's name {_NOT_ON_GROQ}")
        return None

    @model_validator(mode="after")
    def _shape(self) -> "ChatMessage":
        if self.role == "tool" and not self.tool_call_id:
            raise ValueError("a tool message needs the tool_call_id it answers")
        if self.tool_calls and self.role != "assistant":
            raise ValueError("only assistant messages carry tool_calls")
        if self.content is None and not self.tool_calls:
            raise ValueError("content is required (it may be null only beside tool_calls)")
        return self

    def text(self) -> str:
        if isinstance(self.content, list):
            return "".join(part["text"] for part in self.content)
        return self.content or ""

    def sent(self) -> Message:
        """The message as the provider takes it: text content, tool calls and ids as given."""
        message: Message = {"role": self.role, "content": self.text() if self.content is not None else None}
        if self.tool_calls:
            message["tool_calls"] = self.tool_calls
        if self.tool_call_id:
            message["tool_call_id"] = self.tool_call_id
        return message


class StreamOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    include_usage: bool = False


class CompletionRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
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
        },
    )

    model: str = Field(json_schema_extra={"enum": [*NAMES]})
    messages: list[ChatMessage] = Field(min_length=1)  # at most MAX_HISTORY_MESSAGES + 1 (_split)
    temperature: float = Field(0.7, ge=0.0, le=2.0)
    max_tokens: int | None = Field(None, ge=1, le=8192)
    max_completion_tokens: int | None = Field(None, ge=1, le=8192)
    stream: bool = False
    stream_options: StreamOptions | None = None
    n: int = 1
    stop: str | list[str] | None = None
    seed: int | None = None
    top_p: float | None = Field(None, ge=0.0, le=1.0)
    frequency_penalty: float | None = Field(None, ge=-2.0, le=2.0)
    presence_penalty: float | None = Field(None, ge=-2.0, le=2.0)
    response_format: dict[str, Any] | None = None
    tools: list[dict[str, Any]] | None = Field(None, max_length=128)
    tool_choice: str | dict[str, Any] | None = None
    parallel_tool_calls: bool | None = None
    user: str | None = Field(None, max_length=256)  # who the caller's user is, for abuse tracking
    logprobs: Any = None
    top_logprobs: Any = None
    logit_bias: Any = None
    functions: Any = None
    function_call: Any = None
    audio: Any = None
    modalities: Any = None
    prediction: Any = None
    store: Any = None
    metadata: Any = None
    service_tier: Any = None
    reasoning_effort: Any = None
    web_search_options: Any = None

    @field_validator(*REFUSED)
    @classmethod
    def _refused(cls, value: Any, info: Any) -> None:
        if value not in (None, False):
            raise ValueError(f"{info.field_name} {REFUSED[info.field_name]}")
        return None

    @field_validator("n")
    @classmethod
    def _one_choice(cls, value: int) -> int:
        if value != 1:
            raise ValueError(f"n must be 1: the models Aether answers with give one choice ({_NOT_ON_GROQ})")
        return value

    @field_validator("stop")
    @classmethod
    def _stop(cls, value: str | list[str] | None) -> str | list[str] | None:
        if isinstance(value, list) and len(value) > 4:
            raise ValueError("at most 4 stop sequences")
        return value

    @field_validator("response_format")
    @classmethod
    def _format(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        kind = value.get("type") if value is not None else "text"
        if kind not in ("text", "json_object", "json_schema"):
            raise ValueError(f"type '{str(kind)[:40]}' is not one of text, json_object, json_schema")
        if kind == "json_schema" and not isinstance((value or {}).get("json_schema"), dict):
            raise ValueError("a json_schema response format needs its json_schema object")
        return value

    @field_validator("tools")
    @classmethod
    def _tools(cls, value: list[dict[str, Any]] | None) -> list[dict[str, Any]] | None:
        for tool in value or ():
            if tool.get("type") != "function" or not isinstance(
                (tool.get("function") or {}).get("name"), str
            ):
                raise ValueError("each tool must be {'type': 'function', 'function': {'name': ...}}")
        return value

    @model_validator(mode="after")
    def _stream_options(self) -> "CompletionRequest":
        if self.stream_options is not None and not self.stream:
            raise ValueError("stream_options is only allowed when stream is true")
        return self

    def answer_tokens(self) -> int:
        if self.max_tokens and self.max_completion_tokens and self.max_tokens != self.max_completion_tokens:
            raise BadRequest(
                "max_tokens and max_completion_tokens differ: give one", param="max_completion_tokens"
            )
        return self.max_completion_tokens or self.max_tokens or 1024

    def options(self) -> dict[str, Any]:
        return {key: getattr(self, key) for key in PASSED if getattr(self, key) is not None}


def models() -> dict[str, Any]:
    return {"object": "list", "data": [_model(name) for name in NAMES]}


def model(name: str) -> dict[str, Any]:
    """GET /v1/models/{name}; 404 model_not_found for a name Aether does not serve."""
    _known(name)
    return _model(name)


def _model(name: str) -> dict[str, Any]:
    return {"id": name, "object": "model", "created": 0, "owned_by": "aether"}


def _known(name: str) -> None:
    if name not in NAMES:
        raise ModelNotFound(
            f"the model '{name[:100]}' does not exist; choose one of {', '.join(NAMES)}",
            param="model",
        )


def _split(request: CompletionRequest) -> tuple[str, list[Message], list[str], list[Message]]:
    """The question, its history, the leading system instructions and what followed the question
    (tool calls and results); 400 for a list that breaks the rules, naming the message."""
    settings = get_settings()
    messages = request.messages
    leading = next(
        (i for i, m in enumerate(messages) if m.role not in ("system", "developer")), len(messages)
    )
    late = next(
        (i for i in range(leading, len(messages)) if messages[i].role in ("system", "developer")), None
    )
    if late is not None:
        raise BadRequest(
            f"messages[{late}] is a system message after the conversation started: "
            "system messages may only lead the list",
            param=f"messages[{late}].role",
        )
    asked = next((i for i in range(len(messages) - 1, leading - 1, -1) if messages[i].role == "user"), None)
    if asked is None:
        raise BadRequest("the messages need a user message", param="messages")
    if messages[-1].role == "assistant":
        raise BadRequest(
            "the last message must be the user's, or a tool result",
            param=f"messages[{len(messages) - 1}].role",
        )
    question = messages[asked].text()
    limit = settings.max_message_chars
    if not question.strip() or len(question) > limit:
        raise BadRequest(
            f"the last user message must have 1 to {limit} characters", param=f"messages[{asked}]"
        )
    earlier = [*messages[:asked], *messages[asked + 1 :]]  # instructions included
    if len(earlier) > settings.max_history_messages:
        raise BadRequest(
            f"{len(earlier)} messages besides the question; the limit is {settings.max_history_messages}",
            param="messages",
        )
    chars = sum(len(m.text()) + (len(json.dumps(m.tool_calls)) if m.tool_calls else 0) for m in earlier)
    if chars > settings.max_history_chars:
        raise BadRequest(
            f"the messages besides the question hold {chars} characters; "
            f"the limit is {settings.max_history_chars}",
            param="messages",
        )
    history = [m.sent() for m in messages[leading:asked]]
    after = [m.sent() for m in messages[asked + 1 :]]
    return question, history, [m.text() for m in messages[:leading]], after


def _body(result: Answer, invocation: Invocation) -> dict[str, Any]:
    completion = result.completion
    return {
        "id": f"chatcmpl-{invocation.request_id}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": completion.model,
        "system_fingerprint": completion.system_fingerprint,
        "choices": [
            {
                "index": 0,
                "message": _message(completion),
                "logprobs": None,
                "finish_reason": completion.finish_reason,
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


def _message(completion: Completion) -> dict[str, Any]:
    if not completion.tool_calls:
        return {"role": "assistant", "content": completion.content}
    return {"role": "assistant", "content": completion.content or None, "tool_calls": completion.tool_calls}


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
    return _body(await answer(_question(request, principal, invocation)), invocation)


async def completion_stream(
    request: CompletionRequest, principal: Principal, invocation: Invocation
) -> AsyncIterator[bytes]:
    """The answer as OpenAI's chat.completion.chunk events; with stream_options.include_usage, a
    last chunk with no choices and the usage, as OpenAI sends it."""
    head, items = await answer_stream(_question(request, principal, invocation))
    usage = request.stream_options is not None and request.stream_options.include_usage
    return _chunks(head, items, invocation, usage)


def _question(request: CompletionRequest, principal: Principal, invocation: Invocation) -> Question:
    _known(request.model)
    prompt, history, instructions, after = _split(request)  # a refused list counts against no limit
    alias = ALIASES.get(request.model)
    return Question(
        principal,
        invocation,
        ENDPOINT,
        prompt,
        request.temperature,
        request.answer_tokens(),
        agent=alias or "auto",
        model=None if alias else request.model,
        history=history,
        earlier="\n".join(
            m["content"] or "" for m in history[-6:] if m["role"] == "user"
        ),  # its agent is kept
        instructions=tuple(instructions),
        after=after,
        options=request.options(),
        persona=alias is not None,
    )


async def _chunks(
    head: Head, items: AsyncGenerator[str | ToolCallPieces | Answer], invocation: Invocation, usage: bool
) -> AsyncIterator[bytes]:
    base = {
        "id": f"chatcmpl-{invocation.request_id}",
        "object": "chat.completion.chunk",
        "created": int(time.time()),
    }

    def chunk(model: str, choices: list[dict[str, Any]], **extra: Any) -> bytes:
        body = {**base, "model": model, "choices": choices, **extra}
        return f"data: {json.dumps(body, separators=(',', ':'))}\n\n".encode()

    def delta(given: dict[str, Any], finish: str | None = None) -> list[dict[str, Any]]:
        return [{"index": 0, "delta": given, "logprobs": None, "finish_reason": finish}]

    yield chunk(
        head.model,
        delta({"role": "assistant", "content": ""}),
        aether={"agent": head.agent, "routing": head.routing},
    )
    try:
        async for item in items:
            if isinstance(item, Answer):
                done = item.completion
                fingerprint = done.system_fingerprint
                yield chunk(done.model, delta({}, done.finish_reason), system_fingerprint=fingerprint)
                if usage:
                    yield chunk(done.model, [], usage=_usage(done))
                yield b"data: [DONE]\n\n"
            elif isinstance(item, str):
                yield chunk(head.model, delta({"content": item}))
            else:
                yield chunk(head.model, delta({"tool_calls": item}))
    except AetherError as exc:
        error = openai_error(exc.status, exc.code, exc.message, exc.param)
        yield f"data: {json.dumps(error)}\n\n".encode()
    finally:
        await items.aclose()  # if this generator was closed mid-stream, so is the model's
