"""Every function's OpenAPI, fuzzed with schemathesis through the real Lambda handlers: no 5xx.

The apps serve no schema (`openapi_url=None`), so each is built from `app.openapi()`. Every
generated case, valid or not, becomes an API Gateway v2 event with authorizer claims (an admin's,
so the admin routes are reached too; a new user each time, so per-user rate limits do not turn
cases into 429s) and goes through the function's handler; the scripted model server answers the
chat routes. Bounded: the schema's own examples, then a few derandomized valid and invalid cases
per operation, no example database. CloudWatch (the dashboard's `source=cloudwatch`) is moto's.
"""

import uuid
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from hypothesis.strategies import SearchStrategy
from moto import mock_aws
from schemathesis import GenerationMode
from schemathesis.generation.case import Case

from aether_local.events import http_api_event
from aether_local.lambda_host import LambdaContext
from aether_local.model_server import ModelServer
from tests.helpers import function

FUNCTIONS = ("chat", "multi_agent", "analytics", "dashboard")
EXAMPLES = {GenerationMode.POSITIVE: 6, GenerationMode.NEGATIVE: 6}
EXAMPLES_PER_SCHEMA_EXAMPLE = 2


pytestmark = pytest.mark.usefixtures("indexes")


@pytest.fixture
def cloudwatch(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with mock_aws():
        yield


def _event(case: Case) -> dict[str, Any]:
    """The case as API Gateway would hand it over: serialized the way schemathesis sends it."""
    kwargs = case.as_transport_kwargs(base_url="https://api.example")
    request = requests.Request(**kwargs).prepare()
    url = urlsplit(request.url)
    body = request.body or b""
    return http_api_event(
        method=case.method.upper(),
        path=url.path,
        query=url.query,
        headers={k: v for k, v in request.headers.items() if k.lower() != "content-length"},
        body=body.encode() if isinstance(body, str) else body,
        route_key=f"{case.method.upper()} {case.path}",
        path_parameters={k: str(v) for k, v in (case.path_parameters or {}).items()},
        claims={"sub": f"fuzz-{uuid.uuid4().hex[:10]}", "cognito:groups": "[aether-admins]"},
    )


def _run(strategy: SearchStrategy[Case], examples: int, send: Callable[[Case], None]) -> None:
    @given(case=strategy)
    @settings(
        max_examples=examples,
        derandomize=True,
        database=None,
        deadline=None,
        suppress_health_check=list(HealthCheck),
    )
    def run(case: Case) -> None:
        send(case)

    run()


@pytest.mark.parametrize("name", FUNCTIONS)
def test_no_generated_request_gets_a_5xx(name: str, model: ModelServer, cloudwatch: None) -> None:
    handler = function(name).handler
    schema = schemathesis.openapi.from_dict(function(name).app.openapi())
    failures: list[str] = []
    answered: set[str] = set()  # operations that answered a 2xx at least once

    def send(case: Case) -> None:
        response = handler(_event(case), LambdaContext(name, 1024, 29))
        if response["statusCode"] < 300:
            answered.add(case.operation.label)
        if response["statusCode"] >= 500:
            failures.append(
                f"{case.method} {case.formatted_path} query={case.query} body={case.body!r}: "
                f"{response['statusCode']} {response.get('body', '')[:300]}"
            )

    operations = [result.ok() for result in schema.get_all_operations()]
    assert operations
    for operation in operations:
        for example in operation.get_strategies_from_examples():  # the schema's own examples
            _run(example, EXAMPLES_PER_SCHEMA_EXAMPLE, send)
        for mode, examples in EXAMPLES.items():
            try:
                _run(operation.as_strategy(generation_mode=mode), examples, send)
            except Unsatisfiable:
                assert mode is GenerationMode.NEGATIVE  # an operation without inputs has no invalid case
    assert not failures, "\n".join(failures)
    assert answered == {operation.label for operation in operations}  # the cases reached every route
