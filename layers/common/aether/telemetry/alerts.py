"""Alert rules over the dashboard's figures, and recommendations.

The default rules can be replaced with ALERT_RULES (a JSON list of objects with the same fields).
Alerts are deduplicated: one per rule and subject however many minutes breach it.
"""

import json
from dataclasses import dataclass
from typing import Any, Literal

__all__ = ["DEFAULT_RULES", "Alert", "Rule", "evaluate", "recommend", "rules_from"]

Severity = Literal["info", "warning", "critical"]


@dataclass(frozen=True, slots=True)
class Rule:
    name: str
    figure: str  # route_p95_ms, ttft_p95_ms, model_p95_ms, error_rate, cache_hit_rate, db_p95_ms
    above: float | None = None
    below: float | None = None
    severity: Severity = "warning"


@dataclass(frozen=True, slots=True)
class Alert:
    rule: str
    severity: Severity
    subject: str
    value: float
    threshold: float
    message: str


DEFAULT_RULES: tuple[Rule, ...] = (
    Rule("api_p95", "route_p95_ms", above=500, severity="warning"),  # responses sent whole
    Rule("stream_ttft_p95", "ttft_p95_ms", above=1000, severity="warning"),  # streamed: the first token
    Rule("model_p95", "model_p95_ms", above=5000, severity="warning"),
    Rule("error_rate", "error_rate", above=0.05, severity="critical"),
    Rule("cache_hit_rate", "cache_hit_rate", below=0.80, severity="info"),
    Rule("db_p95", "db_p95_ms", above=300, severity="warning"),
)


def rules_from(raw: str) -> tuple[Rule, ...]:
    """ALERT_RULES as JSON, or the defaults when it is empty."""
    return tuple(Rule(**item) for item in json.loads(raw)) if raw else DEFAULT_RULES


def _subjects(figure: str, view: dict[str, Any]) -> list[tuple[str, float | None]]:
    if figure == "route_p95_ms":  # a stream's whole duration is the answer's length, not a delay
        return [(route, r["p95_ms"]) for route, r in view["routes"].items() if r.get("kind") != "stream"]
    if figure == "ttft_p95_ms":
        return [(route, r["ttft_p95_ms"]) for route, r in view["routes"].items() if r.get("kind") == "stream"]
    if figure == "error_rate":
        return [(route, r["error_rate"]) for route, r in view["routes"].items() if r["count"]]
    if figure == "model_p95_ms":
        return [(model, m["p95_ms"]) for model, m in view["models"].items()]
    if figure == "cache_hit_rate":
        return [("cache", view["cache"]["hit_rate"])]
    if figure == "db_p95_ms":
        return [("mongodb", view["database"]["p95_ms"])]
    raise ValueError(f"unknown figure {figure!r}")


def evaluate(rules: tuple[Rule, ...], view: dict[str, Any]) -> list[Alert]:
    alerts: dict[tuple[str, str], Alert] = {}
    for rule in rules:
        for subject, value in _subjects(rule.figure, view):
            if value is None:
                continue
            if rule.above is not None and value > rule.above:
                threshold, word = rule.above, "over"
            elif rule.below is not None and value < rule.below:
                threshold, word = rule.below, "under"
            else:
                continue
            alerts[(rule.name, subject)] = Alert(
                rule.name,
                rule.severity,
                subject,
                value,
                threshold,
                f"{rule.figure} of {subject} is {value:g}, {word} {threshold:g}",
            )
    order = {"critical": 0, "warning": 1, "info": 2}
    return sorted(alerts.values(), key=lambda a: (order[a.severity], a.rule, a.subject))


def recommend(view: dict[str, Any]) -> list[str]:
    """Advice that follows from the figures; each names the figure behind it."""
    advice: list[str] = []
    hit_rate = view["cache"]["hit_rate"]
    if hit_rate is not None and hit_rate < 0.8:
        advice.append(
            f"Cache hit rate is {hit_rate:.0%}: consider CACHE_SHARED_SCOPE for prompts without history "
            "and a longer RESPONSE_CACHE_TTL_S."
        )
    for name, function in view["functions"].items():
        used = function["memory_utilization"]
        if used is None:
            continue
        if used < 0.3:
            advice.append(
                f"{name} uses {used:.0%} of its {function['memory_limit_mb']:g} MB: a smaller MemorySize "
                "would cost less (check CPU-bound latency first; Lambda's CPU scales with memory)."
            )
        elif used > 0.8:
            advice.append(f"{name} uses {used:.0%} of its memory: raise MemorySize before it runs out.")
    large_cost = sum(m["cost_usd"] for m in view["models"].values() if m["tier"] == "large")
    total_cost = sum(m["cost_usd"] for m in view["models"].values())
    if total_cost and large_cost / total_cost > 0.8:
        advice.append(
            f"{large_cost / total_cost:.0%} of model cost is on the large tier: check that requests pin "
            "large models only when needed."
        )
    return advice
