"""Groq production models and their prices, loaded from models.json (the one place they are kept)."""

import json
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Literal

__all__ = [
    "MESSAGE_OVERHEAD_TOKENS",
    "MODELS",
    "PRICES_READ_ON",
    "TIERS",
    "Model",
    "Tier",
    "baseline_cost_usd",
    "cost_usd",
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


def prompt_tokens_at_most(messages: list[dict[str, str]], unseen: int = 0) -> int:
    """An upper bound of a prompt's tokens: a byte-level BPE token holds at least one UTF-8 byte.
    `unseen` counts prompt text not written yet (a synthesis of answers to come)."""
    return unseen + sum(len(m["content"].encode()) + MESSAGE_OVERHEAD_TOKENS for m in messages)
