"""The model that answers: the routed tier's chain, or the model a request pinned."""

from dataclasses import dataclass

from aether.agents.router import LARGE_TASKS, Route
from aether.llm.catalog import MODELS, TIERS, Tier

__all__ = ["ModelChoice", "choose_model"]


@dataclass(frozen=True, slots=True)
class ModelChoice:
    tier: Tier
    model: str
    chain: tuple[str, ...]  # the model, then its fallbacks
    reason: str

    def explain(self, answered_by: str) -> str:
        """Why this model, and whether a fallback answered instead."""
        return self.reason if answered_by == self.model else f"{self.reason}; fell back to {answered_by}"


def choose_model(decision: Route, pinned: str | None = None) -> ModelChoice:
    """The routed tier's first model with the rest of the tier as fallbacks; `pinned` (already
    checked against the catalog) wins, without fallbacks."""
    if pinned is not None:
        return ModelChoice(MODELS[pinned].tier, pinned, (pinned,), "model pinned by the request")
    chain = TIERS[decision.tier]
    why = f"{decision.task} (p={decision.task_confidence:.2f})"
    if (decision.tier == "large") != (decision.task in LARGE_TASKS):  # unsure of the task kind
        maybe = "may be" if decision.tier == "large" else "unlikely to be"
        why = f"{maybe} math, reasoning or code (p={decision.tier_confidence:.2f})"
    return ModelChoice(decision.tier, chain[0], chain, f"{decision.tier} tier: {why}")
