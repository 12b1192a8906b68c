"""The operators' dashboard: live percentiles, model and cache figures, business figures, alerts,
and the same figures per minute (per hour beyond 24 hours) as time series.

One source for each figure: the window's totals are the sum of its points (store.live), and every
total shown (requests, 4xx, 5xx, model calls, tokens, cost, cold starts) is computed once from
them (`_totals`); tests/integration/test_dashboard.py adds them up every way they are shown."""

import asyncio
import re
from collections import defaultdict
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any

from aether.errors import ServiceUnavailable
from aether.llm.catalog import MODELS
from aether.services.dashboard_cloudwatch import cloudwatch_view
from aether.services.dashboard_figures import availability, cache_figures, route_figures
from aether.services.dashboard_html import render as render_html
from aether.settings import get_settings
from aether.store import usage
from aether.store.live import STREAM, Window, read_window
from aether.telemetry.alerts import evaluate, recommend, rules_from
from aether.telemetry.histogram import percentile

__all__ = ["dashboard", "render_html", "view_from_totals"]

_BUCKET = re.compile(r"^(route|model|ttft)\|(.+)\|b(\d+)$|^db\|b(\d+)$")


def _percentiles(counts: dict[int, int]) -> dict[str, float | None]:
    return {f"p{q}_ms": percentile(counts, q) for q in (50, 95, 99)}


def view_from_totals(totals: dict[str, float]) -> dict[str, Any]:
    """Turn a merged window (field -> total) into the dashboard's figures."""
    buckets = _buckets(totals)

    def total(name: str) -> float:
        return totals.get(name, 0.0)

    routes = {
        route: route_figures(
            _percentiles(counts),
            total(f"route|{route}|n"),
            total(f"route|{route}|5xx"),
            total(f"route|{route}|4xx"),
        )
        | _stream_figures(route, buckets.get(("ttft", route), {}))
        for (kind, route), counts in buckets.items()
        if kind == "route"
    }
    models = {
        model: {
            **_percentiles(counts),
            "tier": MODELS[model].tier if model in MODELS else None,
            "calls": sum(counts.values()),
            "tokens_in": int(total(f"model|{model}|TokensIn")),
            "tokens_out": int(total(f"model|{model}|TokensOut")),
            "cost_usd": total(f"model|{model}|CostUSD"),  # unrounded, so the sums shown agree
        }
        for (kind, model), counts in buckets.items()
        if kind == "model"
    }
    tiers = {
        t: cache_figures(total(f"tier|{t}|TierHits"), total(f"tier|{t}|TierMisses"))
        for t in ("l1", "l2", "l3")
    }
    return {
        "routes": routes,
        "models": models,
        "cache": {**cache_figures(total("cache|CacheHit"), total("cache|CacheMiss")), "tiers": tiers},
        "database": _percentiles(buckets.get(("db", "mongodb"), {})),
        "functions": _functions(totals),
        "availability": availability(routes),
    }


def _stream_figures(route: str, ttft: dict[int, int]) -> dict[str, Any]:
    """A route's kind, and for streamed responses their time to first token's percentiles."""
    if not route.endswith(STREAM):
        return {"kind": "whole"}
    return {"kind": "stream", **{f"ttft_p{q}_ms": percentile(ttft, q) for q in (50, 95, 99)}}


def _totals(view: dict[str, Any]) -> dict[str, Any]:
    routes, models, functions = view["routes"].values(), view["models"].values(), view["functions"].values()
    return {
        "requests": sum(r["count"] for r in routes),
        "errors_4xx": sum(r["errors_4xx"] for r in routes),
        "errors_5xx": sum(r["errors_5xx"] for r in routes),
        "model_calls": sum(m["calls"] for m in models),
        "tokens": sum(m["tokens_in"] + m["tokens_out"] for m in models),
        "cost_usd": sum(m["cost_usd"] for m in models),
        "cold_starts": sum(f["cold_starts"] for f in functions),
    }


def _series(window: Window) -> dict[str, Any]:
    """The window's points as columns: one value per point, None where a point has no figure."""
    views = [view_from_totals(fields) for _, fields in window.points]
    totals = [_totals(v) for v in views]

    def column(pick: Any) -> list[Any]:
        return [pick(v) for v in views]

    def keyed(section: str, pick: Any) -> dict[str, list[Any]]:
        names = sorted({name for v in views for name in v[section]})
        return {
            name: [pick(v[section][name]) if name in v[section] else None for v in views] for name in names
        }

    routes = sorted({name for v in views for name in v["routes"]})
    return {
        "step_s": window.step_s,
        "times": [start for start, _ in window.points],
        **{
            name: [t[name] for t in totals]
            for name in ("requests", "errors_4xx", "errors_5xx", "cold_starts")
        },
        "latency_ms": {
            route: {
                q: [v["routes"][route][f"{q}_ms"] if route in v["routes"] else None for v in views]
                for q in ("p50", "p95", "p99")
            }
            for route in routes
        },
        "ttft_ms": {
            route: {
                q: [v["routes"][route][f"ttft_{q}_ms"] if route in v["routes"] else None for v in views]
                for q in ("p50", "p95")
            }
            for route in routes
            if route.endswith(STREAM)
        },
        "cache_hit_rate": {
            "all": column(lambda v: v["cache"]["hit_rate"]),
            **{
                tier: column(lambda v, tier=tier: v["cache"]["tiers"][tier]["hit_rate"])
                for tier in ("l1", "l2", "l3")
            },
        },
        "tokens": keyed("models", lambda m: m["tokens_in"] + m["tokens_out"]),
        "cost_usd": keyed("models", lambda m: m["cost_usd"]),
        "memory_mb": keyed("functions", lambda f: f["memory_used_mb"]),  # of the window's `functions` limit
    }


def _buckets(totals: dict[str, float]) -> dict[tuple[str, str], dict[int, int]]:
    """The latency histograms of the window: (route or model, name) or (db, mongodb) -> bucket counts."""
    buckets: defaultdict[tuple[str, str], dict[int, int]] = defaultdict(dict)
    for name, value in totals.items():
        match = _BUCKET.match(name)
        if match is None:
            continue
        if match.group(4) is not None:
            buckets[("db", "mongodb")][int(match.group(4))] = int(value)
        else:
            buckets[(match.group(1), match.group(2))][int(match.group(3))] = int(value)
    return buckets


def _functions(totals: dict[str, float]) -> dict[str, dict[str, Any]]:
    functions = {}
    for name in sorted({key.split("|")[1] for key in totals if key.startswith("svc|")}):
        used, limit = totals.get(f"svc|{name}|mem_mb", 0.0), totals.get(f"svc|{name}|mem_limit_mb", 0.0)
        functions[name] = {
            "invocations": int(totals.get(f"svc|{name}|n", 0.0)),
            "cold_starts": int(totals.get(f"svc|{name}|cold", 0.0)),
            "memory_used_mb": used,
            "memory_limit_mb": limit,
            "memory_utilization": round(used / limit, 4) if limit else None,
        }
    return functions


async def dashboard(window_minutes: int, source: str = "redis") -> dict[str, Any]:
    """The figures of the last `window_minutes`, from the live minutes in Redis or from CloudWatch."""
    if source == "cloudwatch":
        view = await asyncio.to_thread(cloudwatch_view, window_minutes)
        reads: dict[str, int] = {}
    else:
        window = await read_window(window_minutes)
        if window is None:
            message = "the live figures cannot be read right now (Redis does not answer); retry shortly"
            raise ServiceUnavailable(message, retry_after_s=5)
        view = view_from_totals(window.totals)
        view["series"] = _series(window)
        reads = {"points": window.hashes_read, "round_trips": window.round_trips}
    view["business"] = await usage.business_figures()
    view["business"]["availability"] = view.pop("availability")
    view.setdefault("database", {"p50_ms": None, "p95_ms": None, "p99_ms": None})
    view.setdefault("functions", {})
    view["totals"] = _totals(view)
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
