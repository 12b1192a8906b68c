"""The template's dashboard and alarms use only metrics the code emits, with the dimensions it emits.

CloudWatch matches a metric by namespace, name and the exact set of dimensions, so a misspelled
name or one dimension too many or too few is a graph that stays empty and an alarm that never
fires. The code's metrics are `aether.telemetry.catalog.METRICS`: each is emitted with `service`
(the function's POWERTOOLS_SERVICE_NAME) plus the catalog's own dimensions.
"""

import json
import re
from collections.abc import Iterator
from typing import Any

import pytest
import yaml

from aether.cache.tiered import ALL_TIERS
from aether.http.telemetry import API_PREFIX
from aether.llm.catalog import MODELS, TIERS
from aether.telemetry import NAMESPACE
from aether.telemetry.catalog import METRICS
from aether_local.template import _CfnLoader
from tests.helpers import ROOT

# One metric as used by the template: where, namespace, name, dimensions (name -> value).
Use = tuple[str, str, str, dict[str, str]]

SEVERITIES = ("[critical]", "[warning]", "[info]")


def _template() -> dict[str, Any]:
    return yaml.load((ROOT / "template.yaml").read_text(), Loader=_CfnLoader)


def _resources(template: dict[str, Any], type_: str) -> dict[str, dict[str, Any]]:
    return {name: res for name, res in template["Resources"].items() if res.get("Type") == type_}


def _services(template: dict[str, Any]) -> dict[str, set[str]]:
    """Each function's service name -> the routes it serves, as the `route` dimension names them."""
    services: dict[str, set[str]] = {}
    for res in _resources(template, "AWS::Serverless::Function").values():
        props = res["Properties"]
        service = props["Environment"]["Variables"]["POWERTOOLS_SERVICE_NAME"]
        # The streaming function serves the chat app too, under the same service name
        services.setdefault(service, set()).update(
            event["Properties"]["Path"].removeprefix(API_PREFIX)
            for event in props.get("Events", {}).values()
            if event.get("Type") == "HttpApi"
        )
    return services


def _substituted(body: str | list[Any]) -> str:
    """The text of a !Sub with every ${...} replaced by a plausible value (${!x} is a literal ${x})."""
    text = body[0] if isinstance(body, list) else body

    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        if name.startswith("!"):
            return "${" + name[1:] + "}"
        if name == "AWS::Region":
            return "us-east-1"
        if name.endswith(".Arn"):
            return f"arn:aws:cloudwatch:us-east-1:123456789012:alarm:{name.removesuffix('.Arn')}"
        return name.replace(":", "-")

    return re.sub(r"\$\{([^}]+)\}", value, text)


def _dashboard_bodies(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        name: json.loads(_substituted(res["Properties"]["DashboardBody"]))
        for name, res in _resources(template, "AWS::CloudWatch::Dashboard").items()
    }


def _expression_ids(expression: str) -> set[str]:
    """Query ids an expression refers to (ids start lowercase; functions like FILL are upper case)."""
    return set(re.findall(r"\b[a-z][A-Za-z0-9_]*\b", expression))


def _dashboard_uses(name: str, body: dict[str, Any]) -> Iterator[Use]:
    for index, widget in enumerate(body["widgets"]):
        where = f"{name} widget {index} ({widget.get('properties', {}).get('title', widget['type'])})"
        metrics = widget.get("properties", {}).get("metrics", [])
        ids: set[str] = set()
        expressions: list[str] = []
        for entry in metrics:
            options = entry[-1] if entry and isinstance(entry[-1], dict) else {}
            fields = entry[:-1] if options else entry
            if "id" in options:
                ids.add(options["id"])
            if "expression" in options:
                assert not fields, f"{where}: an expression entry holds only its options: {entry}"
                expressions.append(options["expression"])
                continue
            assert "." not in fields, f"{where}: write every metric in full, not with '.': {entry}"
            assert len(fields) >= 2 and len(fields) % 2 == 0, f"{where}: malformed metric {entry}"
            namespace, metric, *pairs = fields
            yield where, namespace, metric, dict(zip(pairs[::2], pairs[1::2], strict=True))
        for expression in expressions:
            assert _expression_ids(expression) <= ids, f"{where}: {expression!r} uses an unknown id"


def _alarm_uses(template: dict[str, Any]) -> Iterator[Use]:
    for name, res in _resources(template, "AWS::CloudWatch::Alarm").items():
        props = res["Properties"]
        if "MetricName" in props:
            dims = {d["Name"]: d["Value"] for d in props.get("Dimensions", [])}
            yield name, props["Namespace"], props["MetricName"], dims
            continue
        queries = props["Metrics"]
        ids = {q["Id"] for q in queries}
        assert sum(bool(q.get("ReturnData", True)) for q in queries) == 1, f"{name}: one query returns data"
        for query in queries:
            if "Expression" in query:
                assert _expression_ids(query["Expression"]) <= ids, f"{name}: unknown id in {query}"
                continue
            metric = query["MetricStat"]["Metric"]
            dims = {d["Name"]: d["Value"] for d in metric.get("Dimensions", [])}
            yield f"{name}.{query['Id']}", metric["Namespace"], metric["MetricName"], dims


def _all_uses(template: dict[str, Any]) -> list[Use]:
    uses = [use for name, body in _dashboard_bodies(template).items() for use in _dashboard_uses(name, body)]
    return uses + list(_alarm_uses(template))


def _problems(uses: list[Use], services: dict[str, set[str]]) -> list[str]:
    problems = []
    for where, namespace, metric, dims in uses:
        if namespace != NAMESPACE:
            problems.append(f"{where}: namespace {namespace!r} is not {NAMESPACE!r}")
        if metric not in METRICS:
            problems.append(f"{where}: {metric!r} is not in the telemetry catalog")
            continue
        expected = {"service", *METRICS[metric][1]}
        if set(dims) != expected:
            problems.append(
                f"{where}: {metric} with dimensions {sorted(dims)}, emitted with {sorted(expected)}"
            )
            continue
        service = dims["service"]
        if service not in services:
            problems.append(f"{where}: {metric} for service {service!r}, which no function has")
            continue
        if "route" in dims and dims["route"] not in services[service]:
            problems.append(f"{where}: {metric} for route {dims['route']!r}, which {service} does not serve")
        if "model" in dims and dims["model"] not in MODELS:
            problems.append(f"{where}: {metric} for model {dims['model']!r}, not in models.json")
        if "tier" in dims and dims["tier"] not in ALL_TIERS:
            problems.append(f"{where}: {metric} for cache tier {dims['tier']!r}, not one of {ALL_TIERS}")
    return problems


def test_dashboard_and_alarms_use_only_emitted_metrics_and_dimensions():
    # Given the template and the functions' service names and routes
    template = _template()
    services = _services(template)
    # When every metric the dashboard and the alarms use is collected
    uses = _all_uses(template)
    # Then there are some, and each is a catalog metric with exactly its emitted dimensions
    assert _dashboard_bodies(template), "the template has a CloudWatch dashboard"
    assert list(_alarm_uses(template)), "the template has alarms on the metrics"
    assert {"Latency", "Requests", "Errors5xx", "ModelLatency", "CacheHit", "DbLatency"} <= {
        u[2] for u in uses
    }
    assert _problems(uses, services) == []


@pytest.mark.parametrize(
    ("field", "bad", "message"),
    [
        ("metric", "Latancy", "not in the telemetry catalog"),
        ("namespace", "AWS/Lambda", "is not 'Aether'"),
    ],
)
def test_a_misspelled_metric_or_namespace_is_reported(field: str, bad: str, message: str):
    # Given the template's uses with one metric name or namespace changed
    template = _template()
    uses = _all_uses(template)
    where, namespace, metric, dims = uses[0]
    changed: Use = (where, bad, metric, dims) if field == "namespace" else (where, namespace, bad, dims)
    # When they are checked
    problems = _problems([changed, *uses[1:]], _services(template))
    # Then exactly that one is reported
    assert len(problems) == 1 and message in problems[0], problems


def test_a_wrong_dimension_set_or_value_is_reported():
    template = _template()
    services = _services(template)
    where, namespace, _, _ = _all_uses(template)[0]
    bad_uses: list[Use] = [
        (where, namespace, "Latency", {"service": "chat"}),  # route missing
        (where, namespace, "CacheHit", {"service": "chat", "tier": "l1"}),  # one too many
        (where, namespace, "Latency", {"service": "chat", "route": "chat/multi-agent"}),  # other function's
        (where, namespace, "TokensIn", {"service": "chat", "model": "gpt-4o"}),
        (where, namespace, "ColdStart", {"service": "multi-agent"}),
    ]
    assert len(_problems(bad_uses, services)) == len(bad_uses)


def test_alarms_notify_the_topic_and_say_their_severity():
    template = _template()
    alarms = _resources(template, "AWS::CloudWatch::Alarm")
    assert alarms
    for name, res in alarms.items():
        props = res["Properties"]
        assert props["AlarmDescription"].startswith(SEVERITIES), name
        for actions in ("AlarmActions", "OKActions"):
            # !If [HasAlarmTopic, [!Ref AlarmTopicArn], !Ref AWS::NoValue], read tag-blind
            condition, when_set, _ = props[actions]
            assert (condition, when_set) == ("HasAlarmTopic", ["AlarmTopicArn"]), name
    assert template["Conditions"]["HasAlarmTopic"]
    assert template["Parameters"]["AlarmTopicArn"]["Default"] == ""


def test_the_model_latency_alarm_watches_every_large_tier_model():
    # Given the large tier of models.json and the functions that call models
    template = _template()
    watched = {
        (dims["service"], dims["model"])
        for where, _, metric, dims in _alarm_uses(template)
        if metric == "ModelLatency"
    }
    # Then each large-tier model is watched in both, and nothing else is
    assert watched == {(s, m) for s in ("chat", "multi_agent") for m in TIERS["large"]}
