"""Capacity on paper for the scale the product promises (issue 7): writes docs/CAPACITY.md.

Per-request counts come from bench/results/latest.json (bench/run.py, section 3) when it exists,
else from MEASURED_TRIPS below; the template's settings from template.yaml; the model tiers from
models.json. What cannot be measured here is a constant below, with its source.

Run: .venv/bin/python scripts/capacity.py
"""

import json
import math
import re
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "docs" / "CAPACITY.md"
BENCH = ROOT / "bench" / "results" / "latest.json"
TEMPLATE = ROOT / "template.yaml"
MODELS = ROOT / "layers" / "common" / "aether" / "llm" / "models.json"

# --- Assumptions: the promise and a user's behaviour -------------------------------------------
USERS = 5_000  # concurrent users the product promises
REQUESTS_PER_USER_PER_MIN = 2.0  # an active user sends a message about every 30 s
# Share of requests per route: the mix of bench/load.py. "repeat" is a prompt the user asked
# before (a cache hit through Redis, as in another execution environment).
MIX = {
    "chat/optimized, new": 0.20,
    "chat/optimized, follow-up": 0.15,
    "chat/optimized, repeat": 0.15,
    "chat/quick": 0.10,
    "agents": 0.10,
    "conversations": 0.08,
    "conversations/search": 0.07,
    "analytics/user": 0.05,
    "chat/multi-agent": 0.03,
    "chat/stream": 0.07,
}
MODEL_CALL_S = {"small": 0.8, "large": 2.0}  # assumed average Groq time for a whole ~400-token answer
NON_MODEL_S = (
    0.02  # the rest of a request: warm chat handler 4.5-8.4 ms on mongoeco (BENCHMARKS.md §2), rounded up
)
SMALL_TIER_SHARE = 179 / 225  # chat prompts routed to the small tier: bench/routing_bench.py at 031fade
MULTI_AGENT_AGENTS = 3  # MULTI_AGENT_DEFAULT; then one synthesis on the large tier
PROMPT_TOKENS = {"new": 100, "follow-up": 1_200, "agent": 100, "synthesis": 1_400}  # assumed: system
# prompt + question (~70 tokens at 1.3 per word, routing_bench.py), plus history or the agents' answers
COMPLETION_TOKENS = {"answer": 400, "synthesis": 600}  # 400: routing_bench.py's assumption
HEADROOM = 1.5  # reserved concurrency to suggest: the computed need x this, for bursts (assumed)
RATE_LIMIT_REFRESH_S = 5.0  # RATE_LIMIT_REFRESH_MS: each environment re-reads Groq headroom (a pipeline)

# --- Limits, with their sources -----------------------------------------------------------------
ACCOUNT_CONCURRENCY = 1_000  # Lambda's default concurrent executions per Region; 100 stay unreserved
ATLAS_CONNECTIONS_PER_NODE = {"M10": 1_500, "M20": 3_000, "M30": 3_000, "M40": 6_000}
ELASTICACHE_RPS = 1_000_000  # "over 1 million requests per second per node": r7g.4xlarge, Redis 7.1
ELASTICACHE_CONNECTIONS = 65_000  # concurrent client connections per node
GROQ_LIMITS = {  # (RPM, TPM) of Groq's published table (the free plan); paid plans are higher and
    "llama-3.1-8b-instant": (30, 6_000),  # shown per organization on the console's limits page:
    "llama-3.3-70b-versatile": (30, 12_000),  # put yours here
}
SOURCES = {
    "Lambda": "https://docs.aws.amazon.com/lambda/latest/dg/lambda-concurrency.html",
    "Atlas": "https://www.mongodb.com/docs/atlas/reference/atlas-limits/",
    "ElastiCache RPS": "https://aws.amazon.com/blogs/database/"
    "achieve-over-500-million-requests-per-second-per-cluster-with-amazon-elasticache-for-redis-7-1/",
    "ElastiCache connections": "https://docs.aws.amazon.com/AmazonElastiCache/latest/dg/"
    "BestPractices.Clients.Redis.Connections.html",
    "Groq": "https://console.groq.com/docs/rate-limits",
}

# Counts per request for the routes bench/run.py does not count: from docs/ARCHITECTURE.md. Redis
# round trips include telemetry's one live-minute pipeline; commands count each command of a pipeline.
OTHER_TRIPS = {
    "agents": {"mongo": 0, "redis_trips": 1, "redis_commands": 1},  # memoised in L1
    "conversations": {"mongo": 1, "redis_trips": 1, "redis_commands": 1},
    "conversations/search": {"mongo": 1, "redis_trips": 1, "redis_commands": 1},
    "analytics/user": {"mongo": 1, "redis_trips": 3, "redis_commands": 4},  # a miss: lookup, put, telemetry
    "chat/multi-agent": {"mongo": 1, "redis_trips": 3, "redis_commands": 5},  # like a chat miss
}
# bench/run.py section 3 at 742b21b + telemetry (BENCHMARKS.md), used when latest.json is absent.
MEASURED_TRIPS = {
    "new conversation": {"mongo": 3, "redis_trips": 3, "redis_commands": 5},
    "follow-up": {"mongo": 4, "redis_trips": 3, "redis_commands": 5},
    "hit, via Redis": {"mongo": 3, "redis_trips": 2, "redis_commands": 3},
    "chat/quick": {"mongo": 1, "redis_trips": 1, "redis_commands": 2},
}
BENCH_KIND = {  # which counted request stands for each route
    "chat/optimized, new": "new conversation",
    "chat/optimized, follow-up": "follow-up",
    "chat/optimized, repeat": "hit, via Redis",
    "chat/quick": "chat/quick",
    "chat/stream": "new conversation",  # the same lookups and writes (services/chat_stream.py)
}
FUNCTION = {route: "Chat" for route in MIX} | {
    "chat/stream": "ChatStream",
    "chat/multi-agent": "MultiAgent",
    "analytics/user": "Analytics",
}


def template_parameters() -> dict[str, int]:
    """Numeric parameter defaults of template.yaml (its !Ref tags keep a plain YAML loader out)."""
    pattern = r"^  (\w+):\n    Type: Number\n    Default: (\d+)"
    return {name: int(value) for name, value in re.findall(pattern, TEMPLATE.read_text(), re.MULTILINE)}


def measured_trips() -> tuple[dict[str, dict[str, int]], str]:
    if not BENCH.exists():
        return MEASURED_TRIPS, "the constants in scripts/capacity.py (bench/run.py at 742b21b)"
    data = json.loads(BENCH.read_text())
    trips = {}
    for kind, row in data["round_trips"].items():
        # The rate-limit read (a pipeline of HGETALLs) is per environment, not per request: apart.
        redis = {label: n for label, n in row["redis"].items() if "HGETALL" not in label}
        trips[kind] = {
            "mongo": sum(row["mongo"].values()),
            "redis_trips": sum(redis.values()),
            "redis_commands": sum(n * (label.count(",") + 1) for label, n in redis.items()),
        }
    return trips, f"bench/results/latest.json (bench/run.py at {data['code']})"


def model_calls(route: str) -> list[tuple[str, float, int]]:
    """Expected model calls per request: (tier, calls, tokens per call: prompt + completion)."""
    small, answer = SMALL_TIER_SHARE, COMPLETION_TOKENS["answer"]
    if route in ("chat/optimized, new", "chat/stream", "chat/optimized, follow-up"):
        prompt = PROMPT_TOKENS["follow-up" if "follow-up" in route else "new"]
        return [("small", small, prompt + answer), ("large", 1 - small, prompt + answer)]
    if route == "chat/quick":
        return [("small", 1.0, PROMPT_TOKENS["new"] + answer)]
    if route == "chat/multi-agent":
        agent = PROMPT_TOKENS["agent"] + answer
        synthesis = PROMPT_TOKENS["synthesis"] + COMPLETION_TOKENS["synthesis"]
        n = MULTI_AGENT_AGENTS
        return [("small", n * small, agent), ("large", n * (1 - small), agent), ("large", 1.0, synthesis)]
    return []


def duration_s(route: str) -> float:
    """Lambda seconds per request: the model stages in sequence plus the rest."""
    if route == "chat/multi-agent":  # the agents in parallel (the slowest bounds it), then the synthesis
        return 2 * MODEL_CALL_S["large"] + NON_MODEL_S
    return sum(calls * MODEL_CALL_S[tier] for tier, calls, _ in model_calls(route)) + NON_MODEL_S


def compute() -> dict[str, Any]:
    params = template_parameters()
    trips, trips_source = measured_trips()
    tiers = json.loads(MODELS.read_text())["tiers"]
    rate = USERS * REQUESTS_PER_USER_PER_MIN / 60  # requests per second
    routes = {}
    for route, share in MIX.items():
        counts = trips[BENCH_KIND[route]] if route in BENCH_KIND else OTHER_TRIPS[route]
        routes[route] = {"rps": rate * share, "duration_s": duration_s(route), **counts}
    concurrency: dict[str, float] = {}
    for route, row in routes.items():
        concurrency[FUNCTION[route]] = concurrency.get(FUNCTION[route], 0.0) + row["rps"] * row["duration_s"]
    environments = sum(math.ceil(c) for c in concurrency.values())
    pool = params["MongoMaxPoolSize"]
    redis_ops = (
        sum(r["rps"] * r["redis_commands"] for r in routes.values()) + environments / RATE_LIMIT_REFRESH_S
    )
    groq = {model: {"rpm": 0.0, "tpm": 0.0} for model in GROQ_LIMITS}
    for route, row in routes.items():  # a tier's first model takes its calls; the others are fallbacks
        for tier, calls, per_call in model_calls(route):
            groq[tiers[tier][0]]["rpm"] += row["rps"] * 60 * calls
            groq[tiers[tier][0]]["tpm"] += row["rps"] * 60 * calls * per_call
    limits = []  # (what, demand, limit, users at the limit, the setting that moves it)
    for function, needed in concurrency.items():
        reserved = params[f"{function}ReservedConcurrency"]
        setting = f"`{function}ReservedConcurrency` (template parameter)"
        limits.append((f"Lambda {function}Function concurrency", needed, reserved, setting))
    reserved_total = sum(v for k, v in params.items() if k.endswith("ReservedConcurrency"))
    limits.append(
        (
            "Lambda account concurrency (all functions)",
            sum(concurrency.values()),
            ACCOUNT_CONCURRENCY - 100,
            "the account's concurrent executions quota (Service Quotas)",
        )
    )
    limits.append(
        (
            "MongoDB connections, Atlas M10 primary",
            environments * pool,
            ATLAS_CONNECTIONS_PER_NODE["M10"],
            "`MongoMaxPoolSize` (template parameter) or the Atlas tier",
        )
    )
    limits.append(
        ("Redis commands/s, one ElastiCache node", redis_ops, ELASTICACHE_RPS, "node type, or shards")
    )
    limits.append(("Redis connections, one node", environments, ELASTICACHE_CONNECTIONS, "shards"))
    for model, demand in groq.items():
        rpm, tpm = GROQ_LIMITS[model]
        setting = (
            "the Groq plan's limits (console limits page); fewer calls: cache hits, `CACHE_SHARED_SCOPE`"
        )
        limits.append((f"Groq {model} requests/min", demand["rpm"], rpm, setting))
        limits.append((f"Groq {model} tokens/min", demand["tpm"], tpm, setting))
    rows = [(what, d, lim, USERS * lim / d if d else math.inf, s) for what, d, lim, s in limits]
    suggested = {  # rounded up to tens, never below the template's default
        function: max(params[f"{function}ReservedConcurrency"], math.ceil(needed * HEADROOM / 10) * 10)
        for function, needed in concurrency.items()
    }
    return {
        "params": params,
        "trips_source": trips_source,
        "rate": rate,
        "routes": routes,
        "concurrency": concurrency,
        "environments": environments,
        "reserved_total": reserved_total,
        "redis_ops": redis_ops,
        "groq": groq,
        "limits": sorted(rows, key=lambda row: row[3]),
        "suggested": suggested,
    }


def fmt(value: float) -> str:
    return f"{value:,.0f}" if value >= 10 else f"{value:,.2f}"


def render(result: dict[str, Any]) -> str:
    params, first = result["params"], result["limits"][0]
    optimized = [route for route in MIX if route.startswith("chat/optimized")]
    hit_share = MIX["chat/optimized, repeat"] / sum(MIX[route] for route in optimized)
    aws_first = next(row for row in result["limits"] if not row[0].startswith("Groq"))
    lines = [
        "# Capacity for 5,000 concurrent users",
        "",
        "Generated by `scripts/capacity.py` (`.venv/bin/python scripts/capacity.py`); edit the script, not",
        f"this file. Per-request counts: {result['trips_source']}. Template settings: `template.yaml`",
        "defaults. Each figure is an estimate: demand = arrival rate x per-request count, concurrency =",
        "arrival rate x duration (Little's law).",
        "",
        "## Assumptions",
        "",
        f"- {USERS:,} concurrent users, each sending {REQUESTS_PER_USER_PER_MIN:g} requests per minute: "
        f"{fmt(result['rate'])} requests/s.",
        f"- Model time per whole answer: small tier {MODEL_CALL_S['small']} s, large tier "
        f"{MODEL_CALL_S['large']} s; {SMALL_TIER_SHARE:.0%} of chat prompts routed to the small tier "
        "(`bench/routing_bench.py`); the rest of a request "
        f"{NON_MODEL_S * 1000:.0f} ms. Concurrency is proportional to the model time.",
        f"- Tokens per call (prompt + completion): new chat {PROMPT_TOKENS['new']} + "
        f"{COMPLETION_TOKENS['answer']}, follow-up {PROMPT_TOKENS['follow-up']} + "
        f"{COMPLETION_TOKENS['answer']}, multi-agent synthesis {PROMPT_TOKENS['synthesis']} + "
        f"{COMPLETION_TOKENS['synthesis']}.",
        "- A repeated prompt is a cache hit through Redis; every other chat request calls the model: "
        f"{hit_share:.0%} of `chat/optimized` answered from the cache (`bench/cache_bench.py` reaches 91% "
        "on its synthetic workload of shared prompts; one user's own prompts repeat less).",
        "",
        "## Per route",
        "",
        "| route | share | requests/s | function | duration s | Mongo commands | Redis round trips "
        "| Redis commands | model calls |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for route, row in result["routes"].items():
        calls = sum(n for _, n, _ in model_calls(route))
        lines.append(
            f"| {route} | {MIX[route]:.0%} | {fmt(row['rps'])} | {FUNCTION[route]} | {row['duration_s']:.2f} "
            f"| {row['mongo']} | {row['redis_trips']} | {row['redis_commands']} | {calls:g} |"
        )
    lines += [
        "",
        "## Lambda concurrency",
        "",
        "| function | needed (rate x duration) | reserved (template default) |",
        "|---|---|---|",
    ]
    for name, reserved in params.items():
        if name.endswith("ReservedConcurrency"):
            function = name.removesuffix("ReservedConcurrency")
            lines.append(
                f"| {function}Function | {fmt(result['concurrency'].get(function, 0))} | {reserved} |"
            )
    lines += [
        "",
        f"Reserved in total: {result['reserved_total']}; the account's default limit is "
        f"{ACCOUNT_CONCURRENCY:,} per Region, of which at most {ACCOUNT_CONCURRENCY - 100} can be reserved "
        f"([Lambda]({SOURCES['Lambda']})). A function over its reserved concurrency is throttled.",
        "",
        "## MongoDB, Redis, Groq",
        "",
        f"- Mongo connections: {result['environments']} execution environments x `MongoMaxPoolSize` "
        f"{params['MongoMaxPoolSize']} = {result['environments'] * params['MongoMaxPoolSize']:,} at most, "
        f"against Atlas per node: "
        + ", ".join(f"{tier} {n:,}" for tier, n in ATLAS_CONNECTIONS_PER_NODE.items())
        + f" ([Atlas]({SOURCES['Atlas']})). With the reserved concurrency of the template the bound is "
        f"{result['reserved_total']} x {params['MongoMaxPoolSize']} = "
        f"{result['reserved_total'] * params['MongoMaxPoolSize']}.",
        f"- Redis: {fmt(result['redis_ops'])} commands/s (requests x commands, plus each environment's "
        f"rate-limit pipeline every {RATE_LIMIT_REFRESH_S:g} s, counted as one), "
        f"against over {ELASTICACHE_RPS:,} per r7g.4xlarge node ([AWS]({SOURCES['ElastiCache RPS']})); "
        f"{result['environments']} connections against {ELASTICACHE_CONNECTIONS:,} per node "
        f"([ElastiCache]({SOURCES['ElastiCache connections']})). "
        "The telemetry `EVAL` counts as one command but does the work of one `HINCRBY` per field.",
    ]
    for model, demand in result["groq"].items():
        rpm, tpm = GROQ_LIMITS[model]
        lines.append(
            f"- Groq `{model}`: {fmt(demand['rpm'])} requests/min and {fmt(demand['tpm'])} tokens/min, "
            f"against {rpm:,} and {tpm:,} in Groq's published table ([Groq]({SOURCES['Groq']}))."
        )
    lines += [
        "",
        "## Limits, first hit first",
        "",
        "| limit | demand at 5,000 users | limit | users at the limit | the setting that moves it |",
        "|---|---|---|---|---|",
    ]
    for what, demand, limit, users, setting in result["limits"]:
        lines.append(f"| {what} | {fmt(demand)} | {limit:,} | {fmt(users)} | {setting} |")
    lines += [
        "",
        f"**First limit hit: {first[0]}, at about {first[3]:,.0f} concurrent users.** It moves with "
        f"{first[4]}. On AWS the first is {aws_first[0]}, at about {aws_first[3]:,.0f} users: "
        f"{aws_first[4]}. The Groq rows say what the organization's limits must be for this load.",
        "",
    ]
    suggested = result["suggested"]
    reserved = {k: v for k, v in params.items() if k.endswith("ReservedConcurrency")}
    reserved.update({f"{function}ReservedConcurrency": n for function, n in suggested.items()})
    total = sum(reserved.values())
    lines += [
        f"Reserved concurrency for 5,000 users with {HEADROOM:g}x headroom: "
        + ", ".join(f"`{name}` {n}" for name, n in reserved.items())
        + f"; {total} in all (at most {ACCOUNT_CONCURRENCY - 100} without a quota increase). Mongo "
        f"connections are then at most {total} x {params['MongoMaxPoolSize']} = "
        f"{total * params['MongoMaxPoolSize']:,} against {ATLAS_CONNECTIONS_PER_NODE['M10']:,} on an M10: "
        "raise `MongoMaxPoolSize` only with the Atlas tier in view.",
        "",
    ]
    return "\n".join(lines)


def main() -> None:
    result = compute()
    OUT.write_text(render(result))
    first = result["limits"][0]
    print(f"wrote {OUT.relative_to(ROOT)}; first limit hit: {first[0]} at about {first[3]:,.0f} users")


if __name__ == "__main__":
    main()
