"""Secrets named by ARN come from Secrets Manager or SSM Parameter Store (moto) through Powertools
parameters: read once per execution environment and max_age, re-read after it; a direct value wins."""

import asyncio
import io
import logging
from collections.abc import Iterator
from datetime import datetime, timedelta, tzinfo

import boto3
import botocore.handlers
import pytest
from aws_lambda_powertools.utilities import parameters
from aws_lambda_powertools.utilities.parameters import base as powertools_parameters
from moto import mock_aws

from aether import clients
from aether.telemetry import logger
from aether_local.model_server import ModelServer, Reply
from tests.helpers import event, free_port, function, invoke, invoke_raw, reset_process

STORES = ["secretsmanager", "ssm"]
READ = {"secretsmanager": "secrets-manager.GetSecretValue", "ssm": "ssm.GetParameter"}


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """moto in place of AWS and empty Powertools caches; yields the AWS operations called, in order."""
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")  # pragma: allowlist secret
    calls: list[str] = []

    def record(event_name: str, **_: object) -> None:
        calls.append(event_name.removeprefix("before-call."))

    # Every botocore session (Powertools makes its own) registers the built-in handlers
    monkeypatch.setattr(
        botocore.handlers, "BUILTIN_HANDLERS", [*botocore.handlers.BUILTIN_HANDLERS, ("before-call", record)]
    )
    parameters.clear_caches()
    with mock_aws():
        yield calls
    parameters.clear_caches()


@pytest.fixture
def fresh_clients(settings_env: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    """Clients dropped before and after the test (a cold start each time); set variables on the result."""
    function("chat")  # Mangum has set up the environment's event loop
    loop = asyncio.get_event_loop()
    loop.run_until_complete(clients.close_all())
    yield settings_env
    loop.run_until_complete(clients.close_all())


def put(store: str, name: str, value: str) -> str:
    """Create or change a secret (store "secretsmanager") or a SecureString parameter; its ARN."""
    if store == "ssm":
        ssm = boto3.client("ssm")
        ssm.put_parameter(Name=f"/{name}", Value=value, Type="SecureString", Overwrite=True)
        return ssm.get_parameter(Name=f"/{name}")["Parameter"]["ARN"]
    secrets = boto3.client("secretsmanager")
    if secrets.list_secrets(Filters=[{"Key": "name", "Values": [name]}])["SecretList"]:
        return secrets.put_secret_value(SecretId=name, SecretString=value)["ARN"]
    return secrets.create_secret(Name=name, SecretString=value)["ARN"]


def use_secrets(env: pytest.MonkeyPatch, mongo_arn: str, groq_arn: str) -> None:
    """Configure the ARNs as the template does, with no direct values."""
    env.setenv("MONGO_URL", "")
    env.setenv("GROQ_API_KEY", "")
    env.setenv("MONGO_URL_SECRET_ARN", mongo_arn)
    env.setenv("GROQ_API_KEY_SECRET_ARN", groq_arn)
    reset_process()


def advance_powertools_clock(monkeypatch: pytest.MonkeyPatch, seconds: float) -> None:
    """Powertools' cache sees the time `seconds` from now (its entries expire by datetime.now())."""

    class Later(datetime):
        @classmethod
        def now(cls, tz: tzinfo | None = None) -> datetime:  # type: ignore[override]
            return datetime.now(tz) + timedelta(seconds=seconds)

    monkeypatch.setattr(powertools_parameters, "datetime", Later)


@pytest.mark.parametrize("store", STORES)
def test_secrets_are_read_once_for_many_invocations(
    store: str, aws: list[str], fresh_clients: pytest.MonkeyPatch, model: object, mongo_url: str, user: str
) -> None:
    # Given the Mongo URL and the Groq key in the store, named by ARN
    use_secrets(fresh_clients, put(store, "aether/mongo-url", mongo_url), put(store, "aether/groq", "gsk-a"))
    aws.clear()
    # When a cold environment serves five requests, each with a model call and Mongo writes
    for i in range(5):
        status, body = invoke("chat", event("POST", "/chat/optimized", {"message": f"q{i}"}, sub=user))
        assert status == 200, body
        assert body["cached"] is False
    # Then each secret was read from AWS once, and used
    assert aws == [READ[store], READ[store]]
    assert clients.groq().api_key == "gsk-a"


@pytest.mark.parametrize("store", STORES)
def test_a_changed_key_is_used_after_max_age(
    store: str, aws: list[str], fresh_clients: pytest.MonkeyPatch, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_secrets(fresh_clients, "", put(store, "aether/groq", "gsk-old"))
    first = clients.groq()
    assert first.api_key == "gsk-old"
    put(store, "aether/groq", "gsk-new")
    aws.clear()
    # Within max_age the cached key is used, without calling AWS
    advance_powertools_clock(monkeypatch, clients.SECRET_MAX_AGE_S - 1)
    assert clients.groq() is first
    assert aws == []
    # After it, the new key is read once and used
    advance_powertools_clock(monkeypatch, clients.SECRET_MAX_AGE_S + 1)
    assert clients.groq().api_key == "gsk-new"
    assert clients.groq().api_key == "gsk-new"
    assert aws == [READ[store]]


GROQ_KEY = "groq-test-key-k7Qw2xR9vLm4Tn8Zp3Jc6Hy1Bd5Fs0Ga"  # pragma: allowlist secret
MONGO_PASSWORD = "Xr4t-Lq9w-Vm2z-Pk7e"  # pragma: allowlist secret


def test_secrets_never_appear_in_logs_metrics_or_responses(
    aws: list[str],
    fresh_clients: pytest.MonkeyPatch,
    model: ModelServer,
    user: str,
    capfd: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Given a Groq key in SSM and, in Secrets Manager, a Mongo URL with a password and a closed port
    mongo_secret = f"mongodb://aether:{MONGO_PASSWORD}@127.0.0.1:{free_port()}/?authSource=admin"
    fresh_clients.setenv("MONGO_TIMEOUT_MS", "100")  # fail fast on the closed port
    fresh_clients.setenv("LLM_BACKOFF_BASE_MS", "1")
    fresh_clients.setenv("LLM_BACKOFF_MAX_MS", "1")
    use_secrets(
        fresh_clients,
        put("secretsmanager", "aether/mongo-url", mongo_secret),
        put("ssm", "aether/groq", GROQ_KEY),
    )
    # And everything the functions write captured: stdout and stderr (EMF, prints), the Powertools
    # logger and every library logger at DEBUG, except botocore's (its DEBUG prints response bodies,
    # so it must never run at DEBUG where secrets are read)
    logs = io.StringIO()
    stdout = logger.registered_handler.setStream(logs)
    level = logger.log_level
    logger.setLevel(logging.DEBUG)
    caplog.set_level(logging.INFO, logger="botocore")
    caplog.set_level(logging.DEBUG)  # after: it sets the capturing handler's level too
    try:
        # When requests fail on Mongo, on the model, and on both
        chat_mongo_down = invoke_raw("chat", event("POST", "/chat/optimized", {"message": "hi"}, sub=user))
        failed = [
            invoke_raw("chat", event("GET", "/conversations", sub=user)),
            invoke_raw("dashboard", event("GET", "/health/detailed", groups=["aether-admins"])),
        ]
        model.responder = lambda body: Reply(status=500)
        failed += [
            invoke_raw("chat", event("POST", "/chat/quick", {"message": "model is down"}, sub=user)),
            invoke_raw("chat", event("POST", "/chat/optimized", {"message": "both are down"}, sub=user)),
        ]
    finally:
        logger.registered_handler.setStream(stdout)
        logger.setLevel(level)
    printed = capfd.readouterr()
    responses = [chat_mongo_down, *failed]
    output = "\n".join([logs.getvalue(), printed.out, printed.err, caplog.text, *map(str, responses)])
    # Then the failures were answered, logged with their exceptions, and counted...
    assert all(r["statusCode"] >= 500 for r in failed), failed
    assert "pymongo.errors.ServerSelectionTimeoutError" in logs.getvalue()
    assert '"Errors5xx":[1.0]' in printed.out
    # ...without either secret
    assert GROQ_KEY not in output
    assert MONGO_PASSWORD not in output


def test_a_configured_value_is_used_without_calling_aws(aws: list[str]) -> None:
    missing = "arn:aws:secretsmanager:us-east-1:123456789012:secret:missing"
    assert clients._secret("direct-value", missing) == "direct-value"
    assert clients._secret("", "") == ""
    assert aws == []
