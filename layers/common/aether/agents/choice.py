"""The model that answers: the routed tier's chain, or the model a request pinned, kept to the
models whose context window holds the prompt and the answer."""

from dataclasses import dataclass

from aether.agents.router import LARGE_TASKS, Route
from aether.errors import BadRequest
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


def choose_model(
    decision: Route, tokens: int, *, pinned: str | None = None, tier: Tier | None = None
) -> ModelChoice:
    """The tier's chain (`tier`, else the routed one): its first model, the rest as fallbacks;
    `pinned` (already checked against the catalog) wins, without fallbacks.

    `tokens` bounds the prompt and the answer together: a model whose context window is smaller
    is left out, and if none of the chain is left, the catalog's models that fit answer, largest
    window first. A pinned model that cannot hold them, or no model at all, is a 400: never a
    call sent to fail at the provider.
    """
    if pinned is not None:
        chain: tuple[str, ...] = (pinned,)
        reason = "model pinned by the request"
    elif tier is not None:
        chain, reason = TIERS[tier], f"{tier} tier: quick route"
    else:
        chain, reason = TIERS[decision.tier], _reason(decision)
    fitting = tuple(m for m in chain if MODELS[m].context_window >= tokens)
    if not fitting and pinned is None:
        larger = sorted(MODELS.values(), key=lambda m: -m.context_window)
        fitting = tuple(m.id for m in larger if m.context_window >= tokens)
        reason = f"{reason}; a larger context window"
    if not fitting:
        window = max(MODELS[m].context_window for m in (chain if pinned else MODELS))
        raise BadRequest(
            f"the prompt and max_tokens may need {tokens} tokens; the context window is {window}: "
            "shorten the history or the message, or lower max_tokens"
        )
    return ModelChoice(MODELS[fitting[0]].tier, fitting[0], fitting, reason)


def _reason(decision: Route) -> str:
    why = f"{decision.task} (p={decision.task_confidence:.2f})"
    if (decision.tier == "large") != (decision.task in LARGE_TASKS):  # unsure of the task kind
        maybe = "may be" if decision.tier == "large" else "unlikely to be"
        why = f"{maybe} math, reasoning or code (p={decision.tier_confidence:.2f})"
    return f"{decision.tier} tier: {why}"
