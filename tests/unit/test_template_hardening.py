"""The SAM template's guard rails: no endpoint without a token, throttled APIs, no wildcard CORS,
a KMS key for logs and environment variables, access logs, and every suppressed checkov finding
with its reason."""

import json
from typing import Any

import pytest
import yaml

from tests.helpers import ROOT

WITH_KEY = {"Fn::If": ["HasKmsKey", {"Ref": "KmsKeyArn"}, {"Ref": "AWS::NoValue"}]}


class _Tagged(yaml.SafeLoader):
    """CloudFormation's short tags as the long form (!Ref x -> {"Ref": "x"}, !If -> Fn::If)."""


def _tag(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> Any:
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)  # type: ignore[arg-type]
    return {"Ref" if suffix == "Ref" else f"Fn::{suffix}": value}


_Tagged.add_multi_constructor("!", _tag)


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return yaml.load((ROOT / "template.yaml").read_text(), Loader=_Tagged)


def of_type(template: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {name: r for name, r in template["Resources"].items() if r["Type"] == kind}


def test_no_endpoint_of_the_template_answers_without_a_token(template):
    """Every way into a function goes through an API Gateway authorizer."""
    functions = of_type(template, "AWS::Serverless::Function")
    http_apis = of_type(template, "AWS::Serverless::HttpApi")
    rest_apis = of_type(template, "AWS::Serverless::Api")
    # No function URL, and no API or route declared outside the two kinds checked below.
    assert not any("FunctionUrlConfig" in f["Properties"] for f in functions.values())
    kinds = {r["Type"] for r in template["Resources"].values()}
    assert not {k for k in kinds if k.startswith(("AWS::ApiGateway", "AWS::ApiGatewayV2"))} | (
        kinds & {"AWS::Lambda::Url", "AWS::Serverless::SimpleTable"}
    )
    # The HTTP API: a JWT authorizer by default, that no route turns off (a route may name another
    # of the API's authorizers: the JWT one, or the Lambda authorizer function with no cache); no
    # event creates an API of its own (an HttpApi event without ApiId would, with no authorizer).
    for api in http_apis.values():
        auth = api["Properties"]["Auth"]
        assert "JwtConfiguration" in auth["Authorizers"][auth["DefaultAuthorizer"]]
        for authorizer in auth["Authorizers"].values():
            assert "JwtConfiguration" in authorizer or (
                authorizer["FunctionArn"] == {"Fn::GetAtt": "AuthorizerFunction.Arn"}
                and authorizer["Identity"]["ReauthorizeEvery"] == 0  # no identity source: always asked
            )
    events = [e for f in functions.values() for e in f["Properties"].get("Events", {}).values()]
    assert events and all(e["Type"] == "HttpApi" for e in events)
    for event in events:
        api = http_apis[event["Properties"]["ApiId"]["Ref"]]
        named = event["Properties"].get("Auth", {}).get("Authorizer")
        assert named is None or named in api["Properties"]["Auth"]["Authorizers"]
    # The REST API: every method of every path requires its token authorizer.
    assert rest_apis
    for api in rest_apis.values():
        body = api["Properties"]["DefinitionBody"]
        authorizers = {
            name
            for name, scheme in body["components"]["securitySchemes"].items()
            if scheme["x-amazon-apigateway-authorizer"]["type"] == "token"
        }
        operations = [op for methods in body["paths"].values() for op in methods.values()]
        assert operations
        for operation in operations:
            assert operation["security"] and all(set(entry) <= authorizers for entry in operation["security"])
            assert all(entry for entry in operation["security"])  # an empty requirement means none
    # Only API Gateway may invoke a function, and only from this stack's APIs.
    for permission in of_type(template, "AWS::Lambda::Permission").values():
        props = permission["Properties"]
        assert props["Principal"] == "apigateway.amazonaws.com" and "FunctionUrlAuthType" not in props
        assert any(f"${{{api}}}/" in props["SourceArn"]["Fn::Sub"] for api in (*rest_apis, *http_apis))


def test_the_streamed_routes_are_streamed_by_the_gateway(template):
    body = template["Resources"]["StreamApi"]["Properties"]["DefinitionBody"]
    assert {"/api/ai/v4/chat/stream", "/v1/chat/completions"} <= set(body["paths"])
    for methods in body["paths"].values():
        for operation in methods.values():
            target = operation["x-amazon-apigateway-integration"]
            assert (target["type"], target["httpMethod"], target["responseTransferMode"]) == (
                "aws_proxy",
                "POST",
                "STREAM",
            )
            assert target["uri"]["Fn::Sub"].endswith(
                "/2021-11-15/functions/${ChatStreamFunction.Arn}/response-streaming-invocations"
            )
            assert target["timeoutInMillis"] // 1000 == 120  # the stream function's Timeout
    stream = template["Resources"]["ChatStreamFunction"]["Properties"]
    assert stream["Timeout"] == 120
    assert stream["Environment"]["Variables"]["AWS_LWA_INVOKE_MODE"] == "response_stream"


def test_both_apis_are_throttled_and_log_their_access(template):
    api = template["Resources"]["HttpApi"]["Properties"]
    limits = {
        "ThrottlingBurstLimit": {"Ref": "ApiThrottlingBurstLimit"},
        "ThrottlingRateLimit": {"Ref": "ApiThrottlingRateLimit"},
    }
    assert api["DefaultRouteSettings"] == limits
    assert api["AccessLogSettings"]["DestinationArn"] == {"Fn::GetAtt": "HttpApiAccessLogGroup.Arn"}
    stream = template["Resources"]["StreamApi"]["Properties"]
    assert stream["MethodSettings"] == [{"ResourcePath": "/*", "HttpMethod": "*", **limits}]
    assert stream["AccessLogSetting"]["DestinationArn"] == {"Fn::GetAtt": "StreamApiAccessLogGroup.Arn"}


def test_cors_allows_no_origin_unless_one_is_given_and_never_a_wildcard(template):
    parameter = template["Parameters"]["CorsAllowOrigin"]
    assert parameter["Default"] == "" and "*" not in json.dumps(template["Globals"])
    condition, given, absent = template["Resources"]["HttpApi"]["Properties"]["CorsConfiguration"]["Fn::If"]
    assert (condition, absent) == ("HasCors", {"Ref": "AWS::NoValue"})
    assert given["AllowOrigins"] == [{"Ref": "CorsAllowOrigin"}]
    assert "Cors" not in template["Resources"]["StreamApi"]["Properties"]  # see docs/ARCHITECTURE.md


def test_log_groups_and_environment_variables_take_the_kms_key_when_given(template):
    groups = of_type(template, "AWS::Logs::LogGroup")
    assert groups and all(g["Properties"]["KmsKeyId"] == WITH_KEY for g in groups.values())
    assert all("RetentionInDays" in g["Properties"] for g in groups.values())
    assert template["Globals"]["Function"]["KmsKeyArn"] == WITH_KEY
    assert template["Parameters"]["KmsKeyArn"]["Default"] == ""


def test_every_skipped_checkov_finding_says_why(template):
    skips = [
        skip
        for resource in template["Resources"].values()
        for skip in resource.get("Metadata", {}).get("checkov", {}).get("skip", [])
    ]
    assert skips and all(skip["id"].startswith("CKV_") and len(skip["comment"]) > 20 for skip in skips)
