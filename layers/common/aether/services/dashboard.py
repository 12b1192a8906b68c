"""The operators' dashboard: live percentiles, model and cache figures, business figures, alerts."""

import asyncio
import re
from collections import defaultdict
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any

from aether.errors import UpstreamError
from aether.llm.catalog import MODELS
from aether.services.dashboard_cloudwatch import cloudwatch_view
from aether.services.dashboard_html import render as render_html
from aether.settings import get_settings
from aether.store import usage
from aether.store.live import read_window
from aether.telemetry.alerts import evaluate, recommend, rules_from
from aether.telemetry.histogram import percentile

__all__ = ["dashboard", "render_html", "view_from_totals"]

_BUCKET = re.compile(r"^(route|model)\|(.+)\|b(\d+)$|^db\|b(\d+)$")


def _percentiles(counts: dict[int, int]) -> dict[str, float | None]:
    return {f"p{q}_ms": percentile(counts, q) for q in (50, 95, 99)}


def view_from_totals(totals: dict[str, float]) -> dict[str, Any]:
    """Turn a merged window (field -> total) into the dashboard's figures."""
    buckets: defaultdict[tuple[str, str], dict[int, int]] = defaultdict(dict)
    for name, value in totals.items():
        match = _BUCKET.match(name)
        if match is None:
            continue
        if match.group(4) is not None:
            buckets[("db", "mongodb")][int(match.group(4))] = int(value)
        else:
            buckets[(match.group(1), match.group(2))][int(match.group(3))] = int(value)

    def total(name: str) -> float:
        return totals.get(name, 0.0)

    routes = {}
    for (kind, route), counts in buckets.items():
        if kind != "route":
            continue
        count = total(f"route|{route}|n")
        errors = total(f"route|{route}|5xx")
        routes[route] = {
            **_percentiles(counts),
            "count": int(count),
            "errors_5xx": int(errors),
            "errors_4xx": int(total(f"route|{route}|4xx")),
            "error_rate": round(errors / count, 4) if count else 0.0,
        }
    models = {}
    for (kind, model), counts in buckets.items():
        if kind != "model":
            continue
        models[model] = {
            **_percentiles(counts),
            "tier": MODELS[model].tier if model in MODELS else None,
            "calls": sum(counts.values()),
            "tokens_in": int(total(f"model|{model}|TokensIn")),
            "tokens_out": int(total(f"model|{model}|TokensOut")),
            "cost_usd": round(total(f"model|{model}|CostUSD"), 6),
        }
    hits, misses = total("cache|CacheHit"), total("cache|CacheMiss")
    tiers = {}
    for tier in ("l1", "l2", "l3"):
        tier_hits, tier_misses = total(f"tier|{tier}|TierHits"), total(f"tier|{tier}|TierMisses")
        looked = tier_hits + tier_misses
        tiers[tier] = {
            "hits": int(tier_hits),
            "misses": int(tier_misses),
            "hit_rate": round(tier_hits / looked, 4) if looked else None,
        }
    functions = {}
    for name in sorted({key.split("|")[1] for key in totals if key.startswith("svc|")}):
        used, limit = total(f"svc|{name}|mem_mb"), total(f"svc|{name}|mem_limit_mb")
        functions[name] = {
            "invocations": int(total(f"svc|{name}|n")),
            "cold_starts": int(total(f"svc|{name}|cold")),
            "memory_used_mb": used,
            "memory_limit_mb": limit,
            "memory_utilization": round(used / limit, 4) if limit else None,
        }
    requests = sum(int(r["count"] or 0) for r in routes.values())
    failures = sum(int(r["errors_5xx"] or 0) for r in routes.values())
    return {
        "routes": routes,
        "models": models,
        "cache": {
            "hits": int(hits),
            "misses": int(misses),
            "hit_rate": round(hits / (hits + misses), 4) if hits + misses else None,
            "tiers": tiers,
        },
        "database": _percentiles(buckets.get(("db", "mongodb"), {})),
        "functions": functions,
        "availability": round(1 - failures / requests, 6) if requests else None,
    }


async def dashboard(window_minutes: int, source: str = "redis") -> dict[str, Any]:
    """The figures of the last `window_minutes`, from the live minutes in Redis or from CloudWatch."""
    if source == "cloudwatch":
        view = await asyncio.to_thread(cloudwatch_view, window_minutes)
        reads: dict[str, int] = {}
    else:
        window = await read_window(window_minutes)
        if window is None:
            raise UpstreamError("live figures are unavailable: Redis does not answer")
        view = view_from_totals(window.totals)
        reads = {"minutes": window.hashes_read, "round_trips": window.round_trips}
    view["business"] = await usage.business_figures()
    view["business"]["availability"] = view.pop("availability")
    view.setdefault("database", {"p50_ms": None, "p95_ms": None, "p99_ms": None})
    view.setdefault("functions", {})
    alerts = evaluate(rules_from(get_settings().alert_rules), view)
    return {
        "window_minutes": window_minutes,
        "source": source,
        "generated_at": datetime.now(UTC).isoformat(),
        **view,
        "alerts": [asdict(a) for a in alerts],
        "recommendations": recommend(view),
        "reads": reads,
    }
