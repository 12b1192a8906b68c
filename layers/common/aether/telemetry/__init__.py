"""Logging and metrics through AWS Lambda Powertools (EMF in namespace Aether).

Counts are collected during an invocation in a plain Counter (a dictionary update, where
Powertools' add_metric costs about 6 µs) and handed to Powertools when the invocation ends
(`aether.http.lambda_handler`), which prints them as one EMF line.
"""

from collections import Counter

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit

__all__ = ["NAMESPACE", "count", "flush_metrics", "logger", "metrics"]

NAMESPACE = "Aether"

logger = Logger()
metrics = Metrics(namespace=NAMESPACE)


_counts: Counter[str] = Counter()


def count(name: str) -> None:
    """Add 1 to a Count metric of this invocation."""
    _counts[name] += 1


def flush_metrics() -> None:
    """Print this invocation's metrics, if it has any."""
    for name, value in _counts.items():
        metrics.add_metric(name=name, unit=MetricUnit.Count, value=value)
    _counts.clear()
    if metrics.metric_set:
        metrics.flush_metrics()
