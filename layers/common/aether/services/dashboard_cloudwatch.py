"""The dashboard's figures read from CloudWatch (`source=cloudwatch`) with GetMetricData.

Counts and sums come in one call; percentiles in a second, so a store that cannot compute them
(moto, for one) still yields the counts, with the percentiles reported as unavailable.
"""

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from aether.llm.catalog import MODELS
from aether.telemetry import NAMESPACE, logger

__all__ = ["ROUTES", "SERVICES", "cloudwatch_view"]

SERVICES = {
    "chat": ("chat/optimized", "chat/quick"),
    "multi_agent": ("chat/multi-agent",),
    "analytics": ("analytics/user",),
    "dashboard": ("performance/dashboard", "health/detailed"),
}
ROUTES = [(service, route) for service, routes in SERVICES.items() for route in routes]


def _query(query_id: str, metric: str, stat: str, period: int, **dimensions: str) -> dict[str, Any]:
    return {
        "Id": query_id,
        "MetricStat": {
            "Metric": {
                "Namespace": NAMESPACE,
                "MetricName": metric,
                "Dimensions": [{"Name": k, "Value": v} for k, v in dimensions.items()],
            },
            "Period": period,
            "Stat": stat,
        },
        "ReturnData": True,
    }


def _fetch(
    client: Any,
    queries: list[dict[str, Any]],
    start: datetime,
    end: datetime,
    combine: Callable[[list[float]], float] = sum,
) -> dict[str, float]:
    """Each query's datapoints combined into one figure; a query with none is left out."""
    values: dict[str, float] = {}
    for first in range(0, len(queries), 500):
        response = client.get_metric_data(
            MetricDataQueries=queries[first : first + 500], StartTime=start, EndTime=end
        )
        for result in response["MetricDataResults"]:
            if result["Values"]:
                values[result["Id"]] = combine(result["Values"])
    return values


def cloudwatch_view(window_minutes: int, client: Any | None = None) -> dict[str, Any]:
    """Per route and per model figures, and cache hit rate, over the window, from CloudWatch."""
    if client is None:
        import boto3

        client = boto3.client("cloudwatch")
    end = datetime.now(UTC) + timedelta(minutes=1)  # EndTime is exclusive: keep the current minute
    start = end - timedelta(minutes=window_minutes + 1)
    period = window_minutes * 60
    sums: list[dict[str, Any]] = []
    percentiles: list[dict[str, Any]] = []
    for i, (service, route) in enumerate(ROUTES):
        for metric, stat in (("Requests", "Sum"), ("Errors5xx", "Sum"), ("Errors4xx", "Sum")):
            sums.append(_query(f"r{i}_{metric.lower()}", metric, stat, period, service=service, route=route))
        for q in (50, 95, 99):
            percentiles.append(_query(f"r{i}_p{q}", "Latency", f"p{q}", period, service=service, route=route))
    models = list(MODELS)
    for i, model in enumerate(models):
        for metric in ("TokensIn", "TokensOut", "CostUSD"):
            sums.append(_query(f"m{i}_{metric.lower()}", metric, "Sum", period, service="chat", model=model))
        sums.append(_query(f"m{i}_calls", "ModelLatency", "SampleCount", period, service="chat", model=model))
        percentiles.append(_query(f"m{i}_p95", "ModelLatency", "p95", period, service="chat", model=model))
    sums.append(_query("cache_hit", "CacheHit", "Sum", period, service="chat"))
    sums.append(_query("cache_miss", "CacheMiss", "Sum", period, service="chat"))
    values = _fetch(client, sums, start, end)
    try:
        values |= _fetch(client, percentiles, start, end, combine=max)
        have_percentiles = True
    except Exception as exc:  # the store could not compute percentiles: keep the counts
        logger.warning("percentiles unavailable from CloudWatch", extra={"error": type(exc).__name__})
        have_percentiles = False

    def pct(key: str) -> float | None:
        return values.get(key) if have_percentiles else None

    routes = {}
    for i, (_, route) in enumerate(ROUTES):
        count = values.get(f"r{i}_requests", 0.0)
        errors = values.get(f"r{i}_errors5xx", 0.0)
        routes[route] = {
            "p50_ms": pct(f"r{i}_p50"),
            "p95_ms": pct(f"r{i}_p95"),
            "p99_ms": pct(f"r{i}_p99"),
            "count": int(count),
            "errors_5xx": int(errors),
            "errors_4xx": int(values.get(f"r{i}_errors4xx", 0.0)),
            "error_rate": round(errors / count, 4) if count else 0.0,
        }
    model_view = {
        model: {
            "p95_ms": pct(f"m{i}_p95"),
            "tier": MODELS[model].tier,
            "calls": int(values.get(f"m{i}_calls", 0.0)),
            "tokens_in": int(values.get(f"m{i}_tokensin", 0.0)),
            "tokens_out": int(values.get(f"m{i}_tokensout", 0.0)),
            "cost_usd": round(values.get(f"m{i}_costusd", 0.0), 6),
        }
        for i, model in enumerate(models)
    }
    hits, misses = values.get("cache_hit", 0.0), values.get("cache_miss", 0.0)
    requests = sum(int(r["count"] or 0) for r in routes.values())
    failures = sum(int(r["errors_5xx"] or 0) for r in routes.values())
    return {
        "routes": routes,
        "models": model_view,
        "cache": {
            "hits": int(hits),
            "misses": int(misses),
            "hit_rate": round(hits / (hits + misses), 4) if hits + misses else None,
        },
        "availability": round(1 - failures / requests, 6) if requests else None,
        "percentiles_available": have_percentiles,
    }
