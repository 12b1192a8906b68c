"""Chat completions against Groq: one retry policy, fallbacks along a model chain, a hard deadline.

- The SDK's own retries are off; this module owns the policy.
- 429: wait `retry-after` (with jitter) and retry the same model when that fits in the deadline
  and under `llm_max_retry_wait_ms`; otherwise fall back to the next model of the chain.
- 5xx and connection errors: exponential backoff with full jitter, then the next model.
- 400 and 422: no retry, a 400 with the provider's message (the caller's parameters are wrong for
  it: a schema, a tool choice); other 4xx: no retry, a 502 (Aether's own key or request).
- Every attempt is bounded by the request deadline; running out of time is a 504.
- Rate-limit headers feed the shared headroom view, so a model near its limit is tried last.
"""

import asyncio
import json
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from aether import clients
from aether.core import Invocation
from aether.errors import ModelRefused, UpstreamError, UpstreamTimeout
from aether.llm.catalog import Message, cost_usd, options_tokens_at_most, prompt_tokens_at_most
from aether.llm.ratelimits import RateLimits
from aether.settings import get_settings
from aether.telemetry import count, observe, timing

if TYPE_CHECKING:
    import httpx

__all__ = ["NO_OPTIONS", "Completion", "ToolCallPieces", "complete", "stream"]

NO_OPTIONS: Mapping[str, Any] = MappingProxyType({})
ToolCallPieces = list[dict[str, Any]]  # a streamed delta's `tool_calls`: pieces of calls, by index


@dataclass(frozen=True, slots=True)
class Completion:
    content: str
    model: str
    prompt_tokens: int
    completion_tokens: int
    cost_usd: float
    latency_ms: float
    finish_reason: str = "stop"  # the provider's: stop, length, tool_calls, content_filter
    tool_calls: list[dict[str, Any]] | None = None  # the functions the model asks the caller to run
    system_fingerprint: str | None = None

    def answer(self) -> dict[str, Any]:
        """What a cached answer keeps: not the latency of this call."""
        return {key: getattr(self, key) for key in _ANSWER}

    def cache_value(self, **extra: Any) -> bytes:
        """The answer as the cache stores it, with `extra` fields kept beside it."""
        return json.dumps({**self.answer(), **extra}, separators=(",", ":")).encode()

    @classmethod
    def cut(
        cls,
        model: str,
        messages: list[Message],
        received: str | None,
        max_tokens: int,
        options: Mapping[str, Any] = NO_OPTIONS,
    ) -> "Completion":
        """A call cut short with no usage from the provider, counted so that it is never less than
        what the provider produced: a token holds at least one byte (byte-level BPE), so the
        prompt's bytes (its `options` too) and the received answer's bytes bound its tokens; with
        nothing received (a whole answer cut by the deadline), max_tokens does."""
        prompt_tokens = prompt_tokens_at_most(messages, options_tokens_at_most(options))
        completion_tokens = max_tokens if received is None else len(received.encode())
        spent = cost_usd(model, prompt_tokens, completion_tokens)
        return cls(received or "", model, prompt_tokens, completion_tokens, spent, 0.0, "length")

    @classmethod
    def from_cache(cls, fields: dict[str, Any]) -> "Completion":
        """A cached answer (its decoded fields; extra ones are ignored) as a Completion."""
        return cls(**{key: fields[key] for key in _ANSWER}, latency_ms=0.0)


_ANSWER = (
    "content",
    "model",
    "prompt_tokens",
    "completion_tokens",
    "cost_usd",
    "finish_reason",
    "system_fingerprint",
)
_UNFINISHED = "the model did not finish before the request deadline"


_rate_limits: RateLimits | None = None


def rate_limits() -> RateLimits:
    global _rate_limits
    if _rate_limits is None:
        from aether.cache import get_cache

        _rate_limits = RateLimits(get_cache().l3, get_settings().rate_limit_refresh_ms / 1000)
    return _rate_limits


def _backoff_s(attempt: int) -> float:
    settings = get_settings()
    ceiling = min(settings.llm_backoff_max_ms, settings.llm_backoff_base_ms * 2 ** (attempt - 1)) / 1000
    return random.uniform(0, ceiling)


def _retry_after_s(headers: dict[str, str]) -> float | None:
    value = headers.get("retry-after")
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


def _observe(model: str, started: float, prompt_tokens: int, completion_tokens: int) -> None:
    observe("ModelLatency", (time.perf_counter() - started) * 1000, model=model)
    count("TokensIn", prompt_tokens, model=model)
    count("TokensOut", completion_tokens, model=model)
    count("CostUSD", cost_usd(model, prompt_tokens, completion_tokens), model=model)


@dataclass(frozen=True, slots=True)
class _Opened:
    """The call that got through: its model, the SDK's response, and when its attempt started."""

    model: str
    response: Any
    started: float  # perf_counter at the start of the successful attempt


async def _first_answer(
    chain: tuple[str, ...],
    invocation: Invocation,
    send: Callable[[str, float], Awaitable[Any]],
    headers_of: Callable[[Any], Mapping[str, str]],
) -> _Opened:
    """Run `send(model, seconds_left)` under the retry and fallback policy until one answers."""
    import groq

    settings = get_settings()
    limits = rate_limits()
    ordered = limits.order(chain)
    given_up: list[str] = []
    for model in ordered:
        for attempt in range(1, settings.llm_max_attempts + 1):
            remaining = invocation.remaining_s()
            if remaining <= 0:
                raise UpstreamTimeout("the model did not answer before the request deadline")
            started = time.perf_counter()
            try:
                async with asyncio.timeout(remaining):
                    response = await send(model, remaining)
            except (TimeoutError, groq.APITimeoutError) as exc:
                raise UpstreamTimeout("the model did not answer before the request deadline", model) from exc
            except groq.APIStatusError as exc:
                headers = dict(exc.response.headers)
                if exc.status_code == 429:
                    wait = _retry_after_s(headers)
                    await limits.observe(model, headers, retry_after=wait or 1.0)
                    wait = (wait or 0.0) + random.uniform(0, 0.1)
                    if (
                        attempt < settings.llm_max_attempts
                        and wait * 1000 <= settings.llm_max_retry_wait_ms
                        and wait < invocation.remaining_s()
                    ):
                        count("ModelRetries")
                        await asyncio.sleep(wait)
                        continue
                    break
                if exc.status_code in (400, 422):
                    raise _refused(exc.body) from exc
                if exc.status_code < 500:
                    raise UpstreamError(
                        f"the model provider refused the request ({exc.status_code})"
                    ) from exc
            except groq.APIConnectionError:
                pass
            else:
                await limits.observe(model, dict(headers_of(response)))
                return _Opened(model, response, started)
            # a 5xx or a connection error: back off, then retry or fall back
            if attempt < settings.llm_max_attempts:
                delay = _backoff_s(attempt)
                if delay >= invocation.remaining_s():
                    break
                count("ModelRetries")
                await asyncio.sleep(delay)
        given_up.append(model)
        if model != ordered[-1]:
            count("ModelFallbacks")
    raise UpstreamError(f"no model could answer: {', '.join(given_up)} failed or were rate limited")


@dataclass(frozen=True, slots=True)
class _Said:
    """What the provider's answer says besides its usage."""

    content: str
    finish_reason: str
    tool_calls: list[dict[str, Any]] | None
    system_fingerprint: str | None


def _refused(body: object) -> ModelRefused:
    """The provider's word on a request it finds invalid: its message and the field it names."""
    error = body.get("error", body) if isinstance(body, dict) else {}
    error = error if isinstance(error, dict) else {}
    message = str(error.get("message") or "no reason given")[:500]
    param = error.get("param")
    return ModelRefused(f"the model refused the request: {message}", param=str(param) if param else None)


def _completion(opened: _Opened, said: _Said, usage: Any, started: float) -> Completion:
    """The answer with its tokens (from the response's usage), cost and latency; metrics recorded."""
    prompt_tokens, completion_tokens = _tokens_of(usage)
    _observe(opened.model, opened.started, prompt_tokens, completion_tokens)
    return Completion(
        content=said.content,
        model=opened.model,
        prompt_tokens=prompt_tokens,
        completion_tokens=completion_tokens,
        cost_usd=cost_usd(opened.model, prompt_tokens, completion_tokens),
        latency_ms=round((time.perf_counter() - started) * 1000, 2),
        finish_reason=said.finish_reason,
        tool_calls=said.tool_calls,
        system_fingerprint=said.system_fingerprint,
    )


_PATH = "/openai/v1/chat/completions"


async def _post(body: dict[str, Any], remaining: float, *, streamed: bool) -> "httpx.Response":
    """One chat completion request through the groq SDK's own client, without its typed layer:
    the body goes out as JSON bytes and the raw response comes back (a streamed one unread), so
    nothing builds pydantic models per call or per chunk (about 1 ms of CPU per call,
    bench/cpu_profile.py). The SDK's timeouts and status errors (APIStatusError and the rest)
    stay as they are; its retries are off (clients.groq)."""
    import httpx

    headers = {"content-type": "application/json"}
    if streamed:
        headers["X-Stainless-Raw-Response"] = "stream"  # the SDK leaves the body unread
    return await clients.groq().post(
        _PATH,
        cast_to=httpx.Response,
        content=json.dumps(body, separators=(",", ":")).encode(),
        options={"timeout": remaining, "headers": headers},
    )


def _sender(
    messages: list[Message],
    temperature: float,
    max_tokens: int,
    options: Mapping[str, Any],
    *,
    streamed: bool,
) -> Callable[[str, float], Awaitable["httpx.Response"]]:
    """One call of the chain's `model`, with `remaining` seconds: the caller's options, then the
    fields Aether sets."""

    async def send(model: str, remaining: float) -> "httpx.Response":
        body = {
            **options,
            "model": model,
            "messages": messages,
            "temperature": temperature,
            "max_tokens": max_tokens,
        }
        if streamed:
            body["stream"] = True
        return await _post(body, remaining, streamed=streamed)

    return send


async def complete(
    chain: tuple[str, ...],
    messages: list[Message],
    *,
    temperature: float,
    max_tokens: int,
    invocation: Invocation,
    options: Mapping[str, Any] = NO_OPTIONS,
) -> Completion:
    """The first answer along `chain`; raises UpstreamTimeout (504) or UpstreamError (502).
    `options`: further chat-completions parameters, sent to the provider as they are."""
    started = time.perf_counter()
    send = _sender(messages, temperature, max_tokens, options, streamed=False)
    with timing.span("model"):
        opened = await _first_answer(chain, invocation, send, lambda response: response.headers)
    try:
        answer = json.loads(opened.response.content)
        choice = answer["choices"][0]
        message = choice["message"]
        said = _Said(
            message.get("content") or "",
            choice.get("finish_reason") or "stop",
            message.get("tool_calls") or None,
            answer.get("system_fingerprint"),
        )
    except (ValueError, KeyError, IndexError, TypeError, AttributeError) as exc:
        raise UpstreamError("the model provider sent an answer that could not be read", opened.model) from exc
    return _completion(opened, said, answer.get("usage"), started)


def _tokens_of(usage: Any) -> tuple[int, int]:
    """(prompt, completion) tokens of a usage object as the provider sent it; (0, 0) without one."""
    if not isinstance(usage, dict):
        return 0, 0
    return int(usage.get("prompt_tokens") or 0), int(usage.get("completion_tokens") or 0)


class _BrokenOff(Exception):
    """The provider sent an error event in the middle of a stream."""


async def _events(response: "httpx.Response") -> AsyncIterator[dict[str, Any]]:
    """The JSON data of each server-sent event of `response` until `[DONE]` (data lines joined,
    other fields ignored, as the SSE format says); an event holding an `error` raises."""
    data: list[str] = []
    async for line in response.aiter_lines():
        if line:
            if line.startswith("data:"):
                data.append(line[5:].removeprefix(" "))
            continue
        if not data:
            continue
        text, data = "\n".join(data), []
        if text == "[DONE]":
            return
        event = json.loads(text)
        if isinstance(event, dict) and event.get("error"):
            raise _BrokenOff(str(event["error"]))
        yield event


async def stream(
    chain: tuple[str, ...],
    messages: list[Message],
    *,
    temperature: float,
    max_tokens: int,
    invocation: Invocation,
    options: Mapping[str, Any] = NO_OPTIONS,
) -> AsyncIterator[str | ToolCallPieces | Completion]:
    """Token deltas as Groq sends them (text, or pieces of tool calls as they come), then the
    Completion with usage, cost and the tool calls put together.

    The retry and fallback policy applies until the stream opens; after the first token a
    failure is an UpstreamError. Every chunk is awaited within the request deadline. If the
    consumer stops early, the upstream stream is closed.
    """
    started = time.perf_counter()
    send = _sender(messages, temperature, max_tokens, options, streamed=True)
    opened = await _first_answer(chain, invocation, send, lambda response: response.headers)
    response = opened.response
    parts: list[str] = []
    calls: dict[int, dict[str, Any]] = {}
    usage = None
    finish_reason, fingerprint = "stop", None
    try:
        chunks = aiter(_events(response))
        while True:
            remaining = invocation.remaining_s()
            if remaining <= 0:
                raise UpstreamTimeout(_UNFINISHED, opened.model)
            try:
                async with asyncio.timeout(remaining):
                    chunk = await anext(chunks)
            except StopAsyncIteration:
                break
            except TimeoutError as exc:
                raise UpstreamTimeout(_UNFINISHED, opened.model) from exc
            usage = (chunk.get("x_groq") or {}).get("usage") or chunk.get("usage") or usage
            fingerprint = chunk.get("system_fingerprint") or fingerprint
            choices = chunk.get("choices") or ()
            if not choices:
                continue
            finish_reason = choices[0].get("finish_reason") or finish_reason
            delta = choices[0].get("delta") or {}
            text, pieces = delta.get("content"), delta.get("tool_calls")
            if (text or pieces) and not parts and not calls:
                now = time.perf_counter()
                observe("TimeToFirstToken", (now - opened.started) * 1000, model=opened.model)
                timing.mark(timing.FIRST_TOKEN, now)
            if text:
                parts.append(text)
                yield text
            if pieces:
                _join(calls, pieces)
                yield pieces
    except Exception as exc:
        if isinstance(exc, UpstreamTimeout | UpstreamError):
            raise
        raise UpstreamError("the model provider broke off the answer", opened.model) from exc
    finally:
        await response.aclose()
        timing.add("model", started, time.perf_counter())
    tool_calls = [calls[index] for index in sorted(calls)] or None
    yield _completion(opened, _Said("".join(parts), finish_reason, tool_calls, fingerprint), usage, started)


def _join(calls: dict[int, dict[str, Any]], pieces: ToolCallPieces) -> None:
    """Put streamed pieces of tool calls together: per index, the id, type and name once, the
    arguments in pieces to be concatenated (as OpenAI's and Groq's streams send them)."""
    for piece in pieces:
        call = calls.setdefault(
            int(piece.get("index", 0)),
            {"id": "", "type": "function", "function": {"name": "", "arguments": ""}},
        )
        call["id"] = piece.get("id") or call["id"]
        call["type"] = piece.get("type") or call["type"]
        function = piece.get("function") or {}
        call["function"]["name"] += function.get("name") or ""
        call["function"]["arguments"] += function.get("arguments") or ""
