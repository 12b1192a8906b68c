"""Secrets named by ARN are read from Secrets Manager (moto) on first use; a direct value wins."""

import boto3
import pytest
from moto import mock_aws

from aether import clients


@pytest.fixture
def aws(monkeypatch):
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with mock_aws():
        yield boto3.client("secretsmanager")


def test_secret_arn_is_resolved_through_secrets_manager(aws):
    arn = aws.create_secret(Name="aether/groq", SecretString="gsk-from-secrets-manager")["ARN"]
    assert clients._secret("", arn) == "gsk-from-secrets-manager"


def test_a_configured_value_is_used_without_calling_aws(aws):
    missing = "arn:aws:secretsmanager:us-east-1:123456789012:secret:missing"
    assert clients._secret("direct-value", missing) == "direct-value"
    assert clients._secret("", "") == ""
