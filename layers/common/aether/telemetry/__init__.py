"""Logging and metrics through AWS Lambda Powertools (EMF in namespace Aether)."""

from aws_lambda_powertools import Logger
from aws_lambda_powertools.metrics import MetricUnit, single_metric

__all__ = ["NAMESPACE", "count", "logger"]

NAMESPACE = "Aether"

logger = Logger()


def count(name: str, dimension: str, value: str) -> None:
    """One Count metric with one low-cardinality dimension, printed as an EMF line now."""
    with single_metric(name=name, unit=MetricUnit.Count, value=1, namespace=NAMESPACE) as metric:
        metric.add_dimension(name=dimension, value=value)
