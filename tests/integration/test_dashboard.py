"""The dashboard and health routes through the real dashboard handler."""

import asyncio
import datetime as dt
import json
import socket

import boto3
import pytest
from moto import mock_aws

from aether import clients
from aether_local.lambda_host import LambdaContext
from aether_local.model_server import Reply
from tests.helpers import event, function, invoke, reset_process

ADMIN = ["aether-admins"]


def dashboard(query: str = "", groups: list[str] | None = ADMIN) -> tuple[int, object]:
    return invoke("dashboard", event("GET", "/performance/dashboard", sub="ops", groups=groups, query=query))


def test_live_figures_follow_the_requests_made(model, user):
    model.script(Reply(content="a", prompt_tokens=40, completion_tokens=10))
    invoke("chat", event("POST", "/chat/optimized", {"message": "dashboard question"}, sub=user))
    invoke("chat", event("POST", "/chat/optimized", {"message": "dashboard question"}, sub=user))
    invoke("chat", event("POST", "/chat/optimized", {"message": ""}, sub=user))  # a 422
    status, body = dashboard()
    assert status == 200, body
    route = body["routes"]["chat/optimized"]
    assert route["count"] >= 3 and route["errors_4xx"] >= 1
    assert 0 < route["p50_ms"] <= route["p95_ms"] <= route["p99_ms"]
    assert any(m["tokens_in"] >= 40 for m in body["models"].values())
    assert body["cache"]["hits"] >= 1 and body["cache"]["misses"] >= 1
    assert body["database"]["p95_ms"] > 0
    chat = body["functions"]["chat"]
    assert chat["invocations"] >= 3 and chat["memory_limit_mb"] == 1024 and 0 < chat["memory_utilization"] < 1
    today = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d")
    assert body["business"]["requests_per_day"][today] >= 2
    assert body["business"]["active_users_month"] >= 1
    assert body["business"]["cost_month_usd"] > 0 and body["business"]["cost_per_active_user_month_usd"] > 0
    assert 0 < body["business"]["availability"] <= 1
    assert body["reads"] == {"minutes": 15, "round_trips": 1}


def test_a_day_window_is_read_in_a_few_round_trips():
    status, body = dashboard("window=1440")
    assert status == 200
    assert body["reads"] == {"minutes": 1440, "round_trips": 3}


@pytest.mark.parametrize("query", ["window=0", "window=1441", "window=abc", "source=prometheus"])
def test_bad_parameters_are_422(query):
    status, body = dashboard(query)
    assert status == 422, body


def test_alert_rules_are_configurable_and_deduplicated(model, user, settings_env):
    rules = [{"name": "slow", "figure": "route_p95_ms", "above": 0.0001, "severity": "critical"}]
    settings_env.setenv("ALERT_RULES", json.dumps(rules))
    reset_process()
    invoke("chat", event("POST", "/chat/quick", {"message": "alert me"}, sub=user))
    invoke("chat", event("POST", "/chat/quick", {"message": "alert me too"}, sub=user))
    _, body = dashboard()
    alerts = [a for a in body["alerts"] if a["rule"] == "slow"]
    subjects = [a["subject"] for a in alerts]
    assert "chat/quick" in subjects and len(subjects) == len(set(subjects))
    assert all(a["severity"] == "critical" for a in alerts)


def test_default_rules_flag_a_low_cache_hit_rate_with_advice(model, user):
    invoke("chat", event("POST", "/chat/optimized", {"message": "a fresh question, never cached"}, sub=user))
    _, body = dashboard()
    hit_rate = body["cache"]["hit_rate"]
    flagged = any(a["rule"] == "cache_hit_rate" for a in body["alerts"])
    assert flagged == (hit_rate < 0.8)
    if flagged:
        assert any("Cache hit rate" in text for text in body["recommendations"])


def test_the_dashboard_as_an_html_page():
    response = function("dashboard").handler(
        event("GET", "/performance/dashboard", sub="ops", groups=ADMIN, query="format=html"),
        LambdaContext("dashboard", 1024, 29),
    )
    assert response["statusCode"] == 200
    assert response["headers"]["content-type"].startswith("text/html")
    assert "<svg" in response["body"] and "Latency p95 per route" in response["body"]


def test_cloudwatch_source_reads_the_same_figures_through_get_metric_data(monkeypatch):
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with mock_aws():
        cloudwatch = boto3.client("cloudwatch")
        now = dt.datetime.now(dt.UTC)
        route = [{"Name": "service", "Value": "chat"}, {"Name": "route", "Value": "chat/optimized"}]
        data = [
            ("Requests", route, 40.0),
            ("Errors5xx", route, 2.0),
            ("CacheHit", [{"Name": "service", "Value": "chat"}], 30.0),
            ("CacheMiss", [{"Name": "service", "Value": "chat"}], 10.0),
        ]
        cloudwatch.put_metric_data(
            Namespace="Aether",
            MetricData=[
                {"MetricName": n, "Dimensions": d, "Value": v, "Unit": "Count", "Timestamp": now}
                for n, d, v in data
            ],
        )
        status, body = dashboard("source=cloudwatch")
    assert status == 200, body
    assert body["source"] == "cloudwatch"
    assert body["routes"]["chat/optimized"]["count"] == 40
    assert body["routes"]["chat/optimized"]["error_rate"] == 0.05
    assert body["cache"]["hit_rate"] == 0.75
    assert body["business"]["availability"] == 0.95
    # moto answers percentile queries with no datapoints: no figure, rather than a made-up one
    assert body["routes"]["chat/optimized"]["p95_ms"] is None


def test_cloudwatch_percentiles_take_the_worst_datapoint_and_counts_add_up():
    from aether.services.dashboard_cloudwatch import cloudwatch_view

    class CloudWatch:  # answers as GetMetricData does, two datapoints per query
        def get_metric_data(self, MetricDataQueries, StartTime, EndTime):
            results = []
            for query in MetricDataQueries:
                stat = query["MetricStat"]["Stat"]
                values = [120.0, 180.0] if stat.startswith("p") else [10.0, 30.0]
                results.append({"Id": query["Id"], "Values": values})
            return {"MetricDataResults": results}

    view = cloudwatch_view(15, client=CloudWatch())
    route = view["routes"]["chat/optimized"]
    assert view["percentiles_available"] is True
    assert route["p95_ms"] == 180.0 and route["count"] == 40


def test_health_needs_a_caller_is_minimal_for_users_and_detailed_for_admins(model):
    reset_process()  # no result kept from an earlier test
    status, body = invoke("dashboard", event("GET", "/health/detailed", sub=None))
    assert status == 401  # behind the authorizer like every route (no public endpoint)
    status, body = invoke("dashboard", event("GET", "/health/detailed", sub="monitor"))
    assert (status, body) == (200, {"status": "healthy"})
    status, body = invoke("dashboard", event("GET", "/health/detailed", sub="ops", groups=ADMIN))
    assert status == 200
    assert {name: check["status"] for name, check in body["checks"].items()} == {
        "mongodb": "healthy",
        "redis": "healthy",
        "model_provider": "healthy",
    }
    assert all(check["latency_ms"] >= 0 for check in body["checks"].values())
    status, body = invoke("dashboard", event("GET", "/health/detailed", sub="someone"))
    assert set(body) == {"status"}  # a signed-in non-admin sees the minimal answer


def test_health_calls_the_model_provider_at_most_once_per_interval(model, settings_env):
    # Given checks kept for an hour
    settings_env.setenv("HEALTH_CHECK_INTERVAL_S", "3600")
    reset_process()
    # When the route is asked ten times by a user, and once by an admin
    answers = [invoke("dashboard", event("GET", "/health/detailed", sub="monitor")) for _ in range(10)]
    status, admin = invoke("dashboard", event("GET", "/health/detailed", sub="ops", groups=ADMIN))
    # Then the provider was called once, and every answer came from that one check
    assert model.model_lists == 1
    assert all(answer == (200, {"status": "healthy"}) for answer in answers)
    assert status == 200 and admin["checked_s_ago"] >= 0
    # And with checks kept for no time, each request checks again
    settings_env.setenv("HEALTH_CHECK_INTERVAL_S", "0")
    reset_process()
    for _ in range(3):
        invoke("dashboard", event("GET", "/health/detailed", sub="monitor"))
    assert model.model_lists == 4


@pytest.fixture
def mongo_down(settings_env):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed again: nothing listens there
    function("dashboard")
    loop = asyncio.get_event_loop()
    loop.run_until_complete(clients.close_all())
    settings_env.setenv("MONGO_URL", f"mongodb://127.0.0.1:{port}/?serverSelectionTimeoutMS=500")
    reset_process()
    yield
    loop.run_until_complete(clients.close_all())
    reset_process()


def test_health_is_503_when_mongodb_is_down(mongo_down):
    status, body = invoke("dashboard", event("GET", "/health/detailed", sub="ops", groups=ADMIN))
    assert status == 503
    assert body["status"] == "down"
    assert body["checks"]["mongodb"]["status"] == "degraded"
    assert body["checks"]["redis"]["status"] == "healthy"
