"""Intent routing and model choice on the labelled set bench/router_eval.jsonl (issue 4).

Reports: accuracy and the confusion matrix (overall, and on the two halves: even lines were
looked at while the vocabulary was extended, odd lines never were); the time of one routing
decision (agent and tier), median of many; the share of prompts sent to the small tier and the
estimated cost against always using the large tier.

Run: .venv/bin/python bench/routing_bench.py (a few seconds, no services needed).
"""

import json
import statistics
import time
from collections import Counter
from pathlib import Path

from aether.agents.catalog import AGENTS
from aether.agents.complexity import choose_model
from aether.agents.router import route
from aether.llm.catalog import TIERS, cost_usd

SET = Path(__file__).with_name("router_eval.jsonl")
COMPLETION_TOKENS = 400  # assumed answer length, the same for both tiers


def load() -> list[dict[str, str]]:
    return [json.loads(line) for line in SET.read_text().splitlines() if line.strip()]


def accuracy(rows: list[dict[str, str]]) -> float:
    return sum(route(r["prompt"]).agent == r["agent"] for r in rows) / len(rows)


def confusion(rows: list[dict[str, str]]) -> None:
    names = list(AGENTS)
    counts = Counter((r["agent"], route(r["prompt"]).agent) for r in rows)
    print("   confusion (rows: label, columns: routed)")
    print("   " + "label".ljust(8) + "".join(n.rjust(7) for n in names) + "   recall")
    for label in names:
        row = [counts[(label, routed)] for routed in names]
        print(
            "   "
            + label.ljust(8)
            + "".join(str(c).rjust(7) for c in row)
            + f"   {row[names.index(label)] / sum(row):.2f}"
        )


def decision_us(rows: list[dict[str, str]], rounds: int = 20) -> list[float]:
    samples = []
    for _ in range(rounds):
        for row in rows:
            started = time.perf_counter()
            decision = route(row["prompt"])
            choose_model(row["prompt"], decision.agent)
            samples.append((time.perf_counter() - started) * 1e6)
    return samples


def prompt_tokens(prompt: str, agent: str) -> int:
    words = len(prompt.split()) + len(AGENTS[agent].system_prompt.split())
    return round(words * 1.3)  # about 1.3 tokens per English word


def cost_report(rows: list[dict[str, str]]) -> None:
    large = TIERS["large"][0]
    tiers: Counter[str] = Counter()
    chosen_cost = large_cost = 0.0
    for row in rows:
        agent = route(row["prompt"]).agent
        choice = choose_model(row["prompt"], agent)
        tiers[choice.tier] += 1
        tokens = prompt_tokens(row["prompt"], agent)
        chosen_cost += cost_usd(choice.model, tokens, COMPLETION_TOKENS)
        large_cost += cost_usd(large, tokens, COMPLETION_TOKENS)
    small_share = tiers["small"] / len(rows)
    print(f"   small tier {tiers['small']} ({small_share:.0%}), large tier {tiers['large']}")
    print(f"   estimated cost, {COMPLETION_TOKENS} completion tokens each: ${chosen_cost:.5f} routed against")
    ratio = chosen_cost / large_cost
    print(f"   ${large_cost:.5f} always on {large}: {ratio:.2f}x ({1 - ratio:.0%} saved)")


def main() -> None:
    rows = load()
    print(f"Routing on {SET.name}: {len(rows)} prompts, {dict(Counter(r['agent'] for r in rows))}")
    print(
        f"1. Accuracy: all {accuracy(rows):.3f}; even lines (seen while tuning) {accuracy(rows[0::2]):.3f};"
    )
    print(f"   odd lines (never looked at) {accuracy(rows[1::2]):.3f}")
    confusion(rows)
    route("warm up")
    samples = decision_us(rows)
    print(
        f"2. One decision (agent and tier), µs: median {statistics.median(samples):.1f}, "
        f"p95 {statistics.quantiles(samples, n=20)[-1]:.1f}, n={len(samples)} (target: median < 200)"
    )
    print("3. Model choice on the set")
    cost_report(rows)


if __name__ == "__main__":
    main()
