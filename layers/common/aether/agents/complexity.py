"""Model choice by how hard the question is: the small tier unless the signals add up."""

import re
from dataclasses import dataclass

from aether.agents.catalog import AGENTS
from aether.agents.router import CODE
from aether.llm.catalog import MODELS, TIERS, Tier

__all__ = ["LARGE_AT", "ModelChoice", "choose_model"]

LARGE_AT = 2.0  # score from which the large tier answers

_MATH = re.compile(
    r"\d\s*[-+*/^=<>]\s*\d|\b(calculate|compute|prove|derive|equation|probability|integral|formula"
    r"|big-?o|complexity of|percent|how many|expected value)\b"
)
_REASONING = re.compile(
    r"\b(step by step|step-by-step|compare|comparison|trade-?offs?|pros and cons|evaluate|strategy|design"
    r"|architect\w*|plan|why|root cause|analy[sz]e|justify|recommend|migrate|refactor|optimi[sz]e"
    r"|explain how|walk me through|in depth|detailed)\b"
)
_OPTIONS = re.compile(r"\b(vs\.?|versus|or|which one|should we|should i)\b[^?]*\?|\bwhat happens (if|when)\b")
_CONSTRAINT = re.compile(
    r"\b(must|must not|should not|at most|at least|no more than|without|within|only|exactly"
    r"|requirements?|constraints?|budget of)\b|^\s*(\d+[.)]|[-*])\s",
    re.MULTILINE,
)


@dataclass(frozen=True, slots=True)
class ModelChoice:
    tier: Tier
    model: str
    chain: tuple[str, ...]  # the model, then its fallbacks
    reason: str

    def explain(self, answered_by: str) -> str:
        """Why this model, and whether a fallback answered instead."""
        return self.reason if answered_by == self.model else f"{self.reason}; fell back to {answered_by}"


def _score(prompt: str, agent: str, history_messages: int) -> tuple[float, list[str]]:
    lowered = prompt.lower()
    words = len(prompt.split())
    signals: list[tuple[float, str]] = []
    if words > 120:
        signals.append((2.0, "long prompt"))
    elif words > 40:
        signals.append((1.0, "medium-length prompt"))
    if CODE.search(prompt):
        signals.append((1.5, "code"))
    if _MATH.search(lowered):
        signals.append((1.5, "math"))
    reasoning = len(set(_REASONING.findall(lowered)))
    if reasoning:
        signals.append((min(2.0, float(reasoning)), "multi-step reasoning"))
    if _OPTIONS.search(lowered):
        signals.append((1.0, "weighing options"))
    constraints = len(_CONSTRAINT.findall(lowered))
    if constraints >= 2:
        signals.append((1.0, "explicit constraints"))
    if history_messages > 6:
        signals.append((1.0, "long history"))
    if AGENTS[agent].preferred_tier == "large":
        signals.append((1.0, f"{agent} prefers large"))
    return sum(weight for weight, _ in signals), [name for _, name in signals]


def choose_model(
    prompt: str, agent: str, history_messages: int = 0, pinned: str | None = None
) -> ModelChoice:
    """The model for a prompt; `pinned` (already checked against the catalog) wins, without fallbacks."""
    if pinned is not None:
        return ModelChoice(MODELS[pinned].tier, pinned, (pinned,), "model pinned by the request")
    score, signals = _score(prompt, agent, history_messages)
    tier: Tier = "large" if score >= LARGE_AT else "small"
    why = ", ".join(signals) if signals else "no difficulty signal"
    chain = TIERS[tier]
    return ModelChoice(tier, chain[0], chain, f"{tier} tier (score {score:g}): {why}")
