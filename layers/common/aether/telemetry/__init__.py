"""Logging (and, later, metrics and tracing) through AWS Lambda Powertools."""

from aws_lambda_powertools import Logger

__all__ = ["logger"]

logger = Logger()
