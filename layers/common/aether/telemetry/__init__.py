"""Logs and metrics through AWS Lambda Powertools; EMF in namespace Aether.

During an invocation metrics are only collected (a dictionary update); when it ends
`flush_metrics` has Powertools' CloudWatch EMF provider serialise them, one EMF document per set
of dimensions (the route, each model, each cache tier). Names, units and dimensions come from
`catalog.METRICS`. (Building a Powertools `Metrics` object and adding metrics one by one cost
about 100 µs per invocation; serialising prepared metric sets with one provider costs a tenth.)
The document of the request's route also carries the request's own figures (`describe`: its
status, request id and where its time went), so one structured line per request says both,
without a log call of its own (about 80 µs each).
"""

import json
from collections import defaultdict
from functools import cache

from aws_lambda_powertools import Logger
from aws_lambda_powertools.metrics.provider.cloudwatch_emf.cloudwatch import AmazonCloudWatchEMFProvider

from aether.telemetry.catalog import METRICS

__all__ = [
    "NAMESPACE",
    "count",
    "describe",
    "flush_metrics",
    "logger",
    "observe",
    "pending",
    "take_users_with_usage",
    "usage_changed",
]

NAMESPACE = "Aether"

logger = Logger()

Dimensions = tuple[tuple[str, str], ...]
_pending: defaultdict[Dimensions, defaultdict[str, list[float]]] = defaultdict(lambda: defaultdict(list))


def observe(name: str, value: float, **dimensions: str) -> None:
    """Record one value of metric `name` (which must be in the catalog, with its dimensions)."""
    _pending[tuple(sorted(dimensions.items()))][name].append(value)


def count(name: str, value: float = 1.0, **dimensions: str) -> None:
    """Add to a Count metric of this invocation (summed before it is emitted)."""
    values = _pending[tuple(sorted(dimensions.items()))][name]
    if values:
        values[0] += value
    else:
        values.append(value)


_users_with_usage: set[str] = set()
_described: dict[str, object] = {}


def describe(**properties: object) -> None:
    """Properties of this request, printed in its route's EMF document (not metrics)."""
    _described.update(properties)


def usage_changed(user_id: str) -> None:
    """Note that this invocation wrote usage for `user_id` (its analytics cache must be invalidated)."""
    _users_with_usage.add(user_id)


def take_users_with_usage() -> list[str]:
    users = sorted(_users_with_usage)
    _users_with_usage.clear()
    return users


def pending() -> dict[Dimensions, dict[str, list[float]]]:
    """What this invocation has recorded so far (the telemetry pipeline reads it too)."""
    return {dims: dict(values) for dims, values in _pending.items()}


@cache
def _emf(service: str) -> AmazonCloudWatchEMFProvider:
    return AmazonCloudWatchEMFProvider(namespace=NAMESPACE, service=service)


def flush_metrics(service: str) -> None:
    """Print this invocation's metrics as EMF, one document per set of dimensions, then forget them."""
    provider = _emf(service)
    for dimensions, values in _pending.items():
        metric_set = {
            name: {"Unit": METRICS[name][0], "StorageResolution": 60, "Value": samples}
            for name, samples in values.items()
        }
        document = provider.serialize_metric_set(
            metrics=metric_set, dimensions={"service": service, **dict(dimensions)}
        )
        line: dict[str, object] = dict(document)
        if _described and any(name == "route" for name, _ in dimensions):
            line.update(_described)
        print(json.dumps(line, separators=(",", ":")))
    _pending.clear()
    _described.clear()
