"""Groq production models and their prices, loaded from models.json (the one place they are kept)."""

import json
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

__all__ = [
    "MESSAGE_OVERHEAD_TOKENS",
    "MODELS",
    "PRICES_READ_ON",
    "TEMPLATE_OVERHEAD_TOKENS",
    "TIERS",
    "Message",
    "Model",
    "Tier",
    "baseline_cost_usd",
    "cost_usd",
    "options_tokens_at_most",
    "prompt_tokens_at_most",
]

Tier = Literal["small", "large"]


@dataclass(frozen=True, slots=True)
class Model:
    id: str
    tier: Tier
    input_per_million: Decimal
    output_per_million: Decimal
    context_window: int


_DATA = json.loads((Path(__file__).with_name("models.json")).read_text())

PRICES_READ_ON: str = _DATA["prices_read_on"]
MODELS: dict[str, Model] = {
    m["id"]: Model(
        id=m["id"],
        tier=m["tier"],
        input_per_million=Decimal(str(m["input_per_million"])),
        output_per_million=Decimal(str(m["output_per_million"])),
        context_window=m["context_window"],
    )
    for m in _DATA["models"]
}
TIERS: dict[Tier, tuple[str, ...]] = {tier: tuple(ids) for tier, ids in _DATA["tiers"].items()}

_MILLION = Decimal(1_000_000)


def cost_usd(model_id: str, prompt_tokens: int, completion_tokens: int) -> float:
    """Input tokens x input price + output tokens x output price, in USD."""
    model = MODELS[model_id]
    cost = (prompt_tokens * model.input_per_million + completion_tokens * model.output_per_million) / _MILLION
    return float(cost)


def baseline_cost_usd(prompt_tokens: int, completion_tokens: int) -> float:
    """What the same tokens cost on the large tier's first model: the no-routing, no-cache baseline."""
    return cost_usd(TIERS["large"][0], prompt_tokens, completion_tokens)


MESSAGE_OVERHEAD_TOKENS = 8  # role and separators of one chat message
# The text a chat template wraps around tool definitions or a response schema ("You have access
# to the following functions...", the harmony format's namespace): a bound, not a count.
TEMPLATE_OVERHEAD_TOKENS = 512

Message = dict[str, Any]  # a chat message as the provider takes it (role, content, tool calls...)


def prompt_tokens_at_most(messages: list[Message], unseen: int = 0) -> int:
    """An upper bound of a prompt's tokens: a byte-level BPE token holds at least one UTF-8 byte.
    `unseen` counts prompt text not in `messages` (a synthesis of answers to come, tool
    definitions: options_tokens_at_most)."""
    return unseen + sum(_bytes(m) + MESSAGE_OVERHEAD_TOKENS for m in messages)


def _bytes(message: Message) -> int:
    """The message's text in bytes; its other fields (tool calls, their ids) as JSON."""
    total = 0
    for key, value in message.items():
        if key == "role" or value is None:
            continue
        text = value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))
        total += len(text.encode())
    return total


def options_tokens_at_most(options: Mapping[str, Any]) -> int:
    """An upper bound of the prompt tokens that request options add: tool definitions and a
    response schema are given to the model as text (their JSON bytes, and a template around)."""
    given = [options[key] for key in ("tools", "response_format") if options.get(key)]
    if not given:
        return 0
    return len(json.dumps(given, separators=(",", ":")).encode()) + TEMPLATE_OVERHEAD_TOKENS
