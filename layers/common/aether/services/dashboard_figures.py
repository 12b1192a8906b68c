"""The dashboard's figures as both of its sources (live minutes in Redis, CloudWatch) give them."""

from typing import Any

__all__ = ["availability", "cache_figures", "route_figures"]


def route_figures(
    percentiles: dict[str, float | None], count: float, errors_5xx: float, errors_4xx: float
) -> dict[str, Any]:
    return {
        **percentiles,
        "count": int(count),
        "errors_5xx": int(errors_5xx),
        "errors_4xx": int(errors_4xx),
        "error_rate": round(errors_5xx / count, 4) if count else 0.0,
    }


def cache_figures(hits: float, misses: float) -> dict[str, Any]:
    return {
        "hits": int(hits),
        "misses": int(misses),
        "hit_rate": round(hits / (hits + misses), 4) if hits + misses else None,
    }


def availability(routes: dict[str, dict[str, Any]]) -> float | None:
    """The share of requests that did not fail with a 5xx, None without requests."""
    requests = sum(r["count"] for r in routes.values())
    failures = sum(r["errors_5xx"] for r in routes.values())
    return round(1 - failures / requests, 6) if requests else None
