"""One chat completion against Groq, bounded by the request deadline, priced from the catalog."""

import asyncio
import time
from dataclasses import dataclass

from aether import clients
from aether.errors import UpstreamError, UpstreamTimeout
from aether.http.context import Invocation
from aether.llm.catalog import cost_usd

__all__ = ["Completion", "complete"]


@dataclass(frozen=True, slots=True)
class Completion:
    content: str
    model: str
    prompt_tokens: int
    completion_tokens: int
    cost_usd: float
    latency_ms: float


async def complete(
    model: str,
    messages: list[dict[str, str]],
    *,
    temperature: float,
    max_tokens: int,
    invocation: Invocation,
) -> Completion:
    import groq

    remaining = invocation.remaining_s()
    if remaining <= 0:
        raise UpstreamTimeout("no time left in this request for a model call")
    started = time.perf_counter()
    try:
        async with asyncio.timeout(remaining):
            response = await clients.groq().chat.completions.create(
                model=model,
                messages=messages,  # type: ignore[arg-type]
                temperature=temperature,
                max_tokens=max_tokens,
                timeout=remaining,
            )
    except (TimeoutError, groq.APITimeoutError) as exc:
        raise UpstreamTimeout("the model did not answer before the request deadline") from exc
    except groq.RateLimitError as exc:
        raise UpstreamError("the model provider is rate limiting requests; retry shortly") from exc
    except (groq.APIStatusError, groq.APIConnectionError) as exc:
        raise UpstreamError("the model provider failed to answer") from exc
    latency_ms = (time.perf_counter() - started) * 1000
    usage = response.usage
    prompt_tokens = usage.prompt_tokens if usage else 0
    completion_tokens = usage.completion_tokens if usage else 0
    return Completion(
        content=response.choices[0].message.content or "",
        model=model,
        prompt_tokens=prompt_tokens,
        completion_tokens=completion_tokens,
        cost_usd=cost_usd(model, prompt_tokens, completion_tokens),
        latency_ms=round(latency_ms, 2),
    )
