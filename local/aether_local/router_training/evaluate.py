"""Figures for a router on labelled examples: agents (accuracy, precision, recall, confusion), task
kinds on each tier, and the expected cost per answer against always answering on the large tier."""

from collections import Counter
from dataclasses import dataclass, field

from aether.agents.catalog import AGENTS
from aether.agents.router import LARGE_TASKS, TASKS, Weights
from aether.llm.catalog import TIERS, cost_usd
from aether_local.router_training.data import Example

__all__ = ["COMPLETION_TOKENS", "Figures", "evaluate", "format_figures"]

COMPLETION_TOKENS = 400  # the answer length assumed for the cost figures, the same on both tiers


@dataclass(frozen=True, slots=True)
class Figures:
    agent_examples: int = 0
    agent_accuracy: float = 0.0
    precision: dict[str, float] = field(default_factory=dict)
    recall: dict[str, float] = field(default_factory=dict)
    confusion: dict[tuple[str, str], int] = field(default_factory=dict)  # (label, routed) -> count
    task_examples: int = 0
    task_accuracy: float = 0.0
    on_large: dict[str, tuple[int, int]] = field(default_factory=dict)  # task -> (on large, all)
    cost_ratio_natural: float = 0.0  # routed cost / always-large cost, the examples as they are
    cost_ratio_uniform: float = 0.0  # the same with every task kind weighted equally


def _prompt_tokens(text: str, agent: str) -> int:
    """Tokens of the system prompt and message, from their UTF-8 bytes (about 4 per token in English)."""
    return (len(text.encode()) + len(AGENTS[agent].system_prompt.encode())) // 4 + 8


def evaluate(weights: Weights, examples: list[Example]) -> Figures:
    agent_rows = [(e.agent, weights.route(e.text).agent) for e in examples if e.agent]
    confusion = Counter(agent_rows)
    recall = {}
    precision = {}
    for agent in AGENTS:
        labelled = sum(n for (label, _), n in confusion.items() if label == agent)
        routed = sum(n for (_, got), n in confusion.items() if got == agent)
        if labelled:
            recall[agent] = confusion[(agent, agent)] / labelled
        if routed:
            precision[agent] = confusion[(agent, agent)] / routed
    on_large: dict[str, list[int]] = {}
    task_hits = 0
    costs: dict[str, list[float]] = {}
    large = TIERS["large"][0]
    for e in examples:
        if not e.task:
            continue
        decision = weights.route(e.text)
        task_hits += decision.task == e.task
        counts = on_large.setdefault(e.task, [0, 0])
        counts[0] += decision.tier == "large"
        counts[1] += 1
        tokens = _prompt_tokens(e.text, decision.agent)
        costs.setdefault(e.task, [0.0, 0.0])
        costs[e.task][0] += cost_usd(TIERS[decision.tier][0], tokens, COMPLETION_TOKENS)
        costs[e.task][1] += cost_usd(large, tokens, COMPLETION_TOKENS)
    task_examples = sum(n for _, n in on_large.values())
    natural = sum(c[0] for c in costs.values()) / max(sum(c[1] for c in costs.values()), 1e-12)
    per_kind = [(c[0] / on_large[t][1], c[1] / on_large[t][1]) for t, c in costs.items()]
    uniform = sum(r for r, _ in per_kind) / max(sum(a for _, a in per_kind), 1e-12)
    return Figures(
        agent_examples=len(agent_rows),
        agent_accuracy=sum(a == b for a, b in agent_rows) / max(len(agent_rows), 1),
        precision=precision,
        recall=recall,
        confusion=dict(confusion),
        task_examples=task_examples,
        task_accuracy=task_hits / max(task_examples, 1),
        on_large={t: (c[0], c[1]) for t, c in on_large.items()},
        cost_ratio_natural=natural,
        cost_ratio_uniform=uniform,
    )


def format_figures(name: str, figures: Figures) -> str:
    lines = [f"{name}:"]
    if figures.agent_examples:
        lines.append(f"  agent accuracy {figures.agent_accuracy:.3f} on {figures.agent_examples} messages")
        lines.append("  " + "label".ljust(8) + "".join(a.rjust(7) for a in AGENTS) + "  recall precision")
        for label in AGENTS:
            if label not in figures.recall:
                continue
            row = [figures.confusion.get((label, routed), 0) for routed in AGENTS]
            lines.append(
                "  "
                + label.ljust(8)
                + "".join(str(n).rjust(7) for n in row)
                + f"  {figures.recall[label]:6.3f} {figures.precision.get(label, 0.0):9.3f}"
            )
    if figures.task_examples:
        lines.append(
            f"  task kind accuracy {figures.task_accuracy:.3f} on {figures.task_examples} messages; "
            "share on the large tier:"
        )
        for task in TASKS:
            if task in figures.on_large:
                large, total = figures.on_large[task]
                want = "large" if task in LARGE_TASKS else "small"
                share = large / total if want == "large" else 1 - large / total
                lines.append(f"    {task:<14} {large:>4} of {total:<4} large ({share:.0%} on {want})")
        lines.append(
            f"  cost against always large ({COMPLETION_TOKENS} completion tokens each): "
            f"{figures.cost_ratio_natural:.2f}x on these messages, "
            f"{figures.cost_ratio_uniform:.2f}x with every task kind weighted equally"
        )
    return "\n".join(lines)
