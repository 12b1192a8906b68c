"""The dashboard's figures read from CloudWatch (`source=cloudwatch`) with GetMetricData.

Counts and sums come in one call; percentiles in a second, so a store that cannot compute them
(moto, for one) still yields the counts, with the percentiles reported as unavailable.
"""

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from aether.errors import ServiceUnavailable
from aether.llm.catalog import MODELS
from aether.services.dashboard_figures import availability, cache_figures, route_figures
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
    """Per route and per model figures, and cache hit rate, over the window, from CloudWatch.

    ServiceUnavailable (503) when CloudWatch cannot be read: no credentials or region (as on a
    developer's machine), no network, or an error answer such as a missing permission."""
    from botocore.exceptions import BotoCoreError, ClientError

    end = datetime.now(UTC) + timedelta(minutes=1)  # EndTime is exclusive: keep the current minute
    start = end - timedelta(minutes=window_minutes + 1)
    sums, percentiles = _queries(window_minutes * 60)
    try:
        if client is None:
            import boto3

            client = boto3.client("cloudwatch")
        values = _fetch(client, sums, start, end)
    except (BotoCoreError, ClientError) as exc:
        raise ServiceUnavailable(
            f"CloudWatch cannot be read here ({type(exc).__name__}); use source=redis"
        ) from exc
    try:
        values |= _fetch(client, percentiles, start, end, combine=max)
        have_percentiles = True
    except Exception as exc:  # the store could not compute percentiles: keep the counts
        logger.warning("percentiles unavailable from CloudWatch", extra={"error": type(exc).__name__})
        have_percentiles = False
    return {**_view(values, have_percentiles), "percentiles_available": have_percentiles}


def _queries(period: int) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """GetMetricData queries: the sums and counts, and the percentiles (asked apart: they may fail)."""
    sums: list[dict[str, Any]] = []
    percentiles: list[dict[str, Any]] = []
    for i, (service, route) in enumerate(ROUTES):
        for metric, stat in (("Requests", "Sum"), ("Errors5xx", "Sum"), ("Errors4xx", "Sum")):
            sums.append(_query(f"r{i}_{metric.lower()}", metric, stat, period, service=service, route=route))
        for q in (50, 95, 99):
            percentiles.append(_query(f"r{i}_p{q}", "Latency", f"p{q}", period, service=service, route=route))
    for i, model in enumerate(MODELS):
        for metric in ("TokensIn", "TokensOut", "CostUSD"):
            sums.append(_query(f"m{i}_{metric.lower()}", metric, "Sum", period, service="chat", model=model))
        sums.append(_query(f"m{i}_calls", "ModelLatency", "SampleCount", period, service="chat", model=model))
        percentiles.append(_query(f"m{i}_p95", "ModelLatency", "p95", period, service="chat", model=model))
    sums.append(_query("cache_hit", "CacheHit", "Sum", period, service="chat"))
    sums.append(_query("cache_miss", "CacheMiss", "Sum", period, service="chat"))
    return sums, percentiles


def _view(values: dict[str, float], have_percentiles: bool) -> dict[str, Any]:
    def pct(key: str) -> float | None:
        return values.get(key) if have_percentiles else None

    def value(key: str) -> float:
        return values.get(key, 0.0)

    routes = {
        route: route_figures(
            {f"p{q}_ms": pct(f"r{i}_p{q}") for q in (50, 95, 99)},
            value(f"r{i}_requests"),
            value(f"r{i}_errors5xx"),
            value(f"r{i}_errors4xx"),
        )
        for i, (_, route) in enumerate(ROUTES)
    }
    models = {
        model: {
            "p95_ms": pct(f"m{i}_p95"),
            "tier": MODELS[model].tier,
            "calls": int(value(f"m{i}_calls")),
            "tokens_in": int(value(f"m{i}_tokensin")),
            "tokens_out": int(value(f"m{i}_tokensout")),
            "cost_usd": round(value(f"m{i}_costusd"), 6),
        }
        for i, model in enumerate(MODELS)
    }
    cache = cache_figures(value("cache_hit"), value("cache_miss"))
    return {"routes": routes, "models": models, "cache": cache, "availability": availability(routes)}
