"""The SAM template's guard rails: throttled API, no wildcard CORS, a KMS key for logs and
environment variables, access logs, and every suppressed checkov finding with its reason."""

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


def test_the_http_api_is_throttled_and_logs_its_access(template):
    api = template["Resources"]["HttpApi"]["Properties"]
    assert api["DefaultRouteSettings"] == {
        "ThrottlingBurstLimit": {"Ref": "ApiThrottlingBurstLimit"},
        "ThrottlingRateLimit": {"Ref": "ApiThrottlingRateLimit"},
    }
    assert api["AccessLogSettings"]["DestinationArn"] == {"Fn::GetAtt": "HttpApiAccessLogGroup.Arn"}


def test_cors_allows_no_origin_unless_one_is_given_and_never_a_wildcard(template):
    parameter = template["Parameters"]["CorsAllowOrigin"]
    assert parameter["Default"] == "" and "*" not in json.dumps(template["Globals"])
    cors = [
        template["Resources"]["HttpApi"]["Properties"]["CorsConfiguration"],
        template["Resources"]["ChatStreamFunction"]["Properties"]["FunctionUrlConfig"]["Cors"],
    ]
    for config in cors:
        condition, given, absent = config["Fn::If"]
        assert (condition, absent) == ("HasCors", {"Ref": "AWS::NoValue"})
        assert given["AllowOrigins"] == [{"Ref": "CorsAllowOrigin"}]


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
