"""The dashboard and health routes through the real dashboard handler."""

import asyncio
import datetime as dt
import json
import re
import socket
import time

import boto3
import pytest
from moto import mock_aws

from aether import clients
from aether_local.lambda_host import LambdaContext
from aether_local.model_server import Reply
from tests.helpers import event, function, invoke, invoke_raw, reset_process

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
    assert body["reads"] == {"points": 15, "round_trips": 1}


def test_a_day_is_read_per_minute_and_a_week_per_hour_in_a_few_round_trips():
    status, day = dashboard("window=1440")
    assert status == 200
    assert day["reads"] == {"points": 1440, "round_trips": 3}
    assert day["series"]["step_s"] == 60 and len(day["series"]["requests"]) == 1440
    status, week = dashboard("window=10080")
    assert status == 200
    assert week["reads"] == {"points": 168, "round_trips": 1}
    assert week["series"]["step_s"] == 3600 and len(week["series"]["times"]) == 168


def test_an_hour_holds_what_its_minutes_hold(model, user):
    from aether.store.live import read_window

    invoke("chat", event("POST", "/chat/optimized", {"message": f"an hour of it {user}"}, sub=user))
    loop = asyncio.get_event_loop()  # the functions' loop, with the clients bound to it
    now = time.time()  # both read at the same instant, with nothing published in between
    day = loop.run_until_complete(read_window(1440, now))
    week = loop.run_until_complete(read_window(10080, now))
    assert day is not None and week is not None
    minutes_of_this_hour = [fields for _, fields in day.points[-(int(now // 60) % 60 + 1) :]]
    hour = week.points[-1][1]
    assert hour.get("svc|chat|n", 0) >= 1
    for name, value in hour.items():
        expected = [m.get(name, 0.0) for m in minutes_of_this_hour]
        assert value == pytest.approx(max(expected) if name.endswith("mb") else sum(expected)), name


def test_totals_agree_however_they_are_shown(model, user):
    model.script(Reply(content="counted", prompt_tokens=30, completion_tokens=7))
    invoke("chat", event("POST", "/chat/optimized", {"message": f"count me {user}"}, sub=user))
    invoke("chat", event("POST", "/chat/optimized", {"message": ""}, sub=user))  # a 4xx
    invoke_raw("chat", event("POST", "/chat/stream", {"message": f"stream me {user}"}, sub=user))
    status, body = dashboard("window=60")
    assert status == 200, body
    totals, series, routes, models = body["totals"], body["series"], body["routes"], body["models"]
    # every total is the sum of the per-minute points and of the per-route (per-model) figures
    for name, per_route in (
        ("requests", "count"),
        ("errors_4xx", "errors_4xx"),
        ("errors_5xx", "errors_5xx"),
    ):
        assert totals[name] == sum(series[name]) == sum(r[per_route] for r in routes.values()), name
    assert totals["requests"] >= 3 and totals["errors_4xx"] >= 1
    assert totals["tokens"] == sum(m["tokens_in"] + m["tokens_out"] for m in models.values())
    assert totals["tokens"] == sum(v for values in series["tokens"].values() for v in values if v)
    assert totals["model_calls"] == sum(m["calls"] for m in models.values()) >= 2
    assert totals["cost_usd"] == pytest.approx(sum(m["cost_usd"] for m in models.values()), abs=1e-6)
    cost_points = sum(v for values in series["cost_usd"].values() for v in values if v)
    assert totals["cost_usd"] == pytest.approx(cost_points, abs=1e-6 * len(series["times"]))
    assert (
        totals["cold_starts"]
        == sum(series["cold_starts"])
        == sum(f["cold_starts"] for f in body["functions"].values())
    )


def test_streamed_responses_are_a_route_kind_of_their_own_alerted_on_their_first_token(
    model, user, settings_env
):
    rules = [
        {"name": "slow", "figure": "route_p95_ms", "above": 0.0001},
        {"name": "slow_first_token", "figure": "ttft_p95_ms", "above": 0.0001},
    ]
    settings_env.setenv("ALERT_RULES", json.dumps(rules))
    reset_process()
    model.script(Reply(content="one two three"))
    invoke_raw("chat", event("POST", "/chat/stream", {"message": f"stream a question {user}"}, sub=user))
    invoke("chat", event("POST", "/chat/quick", {"message": f"answer whole {user}"}, sub=user))
    _, body = dashboard()
    stream = body["routes"]["chat/stream (stream)"]
    assert stream["kind"] == "stream" and body["routes"]["chat/quick"]["kind"] == "whole"
    assert 0 < stream["ttft_p50_ms"] <= stream["ttft_p95_ms"] <= stream["p95_ms"]
    flagged = {(a["rule"], a["subject"]) for a in body["alerts"]}
    assert ("slow", "chat/quick") in flagged and ("slow_first_token", "chat/stream (stream)") in flagged
    assert ("slow", "chat/stream (stream)") not in flagged  # a stream's length is not a delay
    assert not any(
        rule == "slow_first_token" and not subject.endswith("(stream)") for rule, subject in flagged
    )


@pytest.mark.parametrize("query", ["window=0", "window=10081", "window=abc", "source=prometheus"])
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
    page = response["body"]
    charts = re.findall(r'<svg [^>]*data-chart="([^"]+)">(.*?)</svg>', page)
    names = [name for name, _ in charts]
    assert {"requests", "cache", "tokens", "cost", "memory", "cold_starts"} <= set(names)
    assert any(name.startswith("latency:") for name in names)
    assert all("<polyline" in svg or "<circle" in svg or "no data" in svg for _, svg in charts)
    cache = dict(charts)["cache"]
    assert ">100%</text>" in cache and ">0.0%</text>" in cache  # a rate's scale is 0-100%
    assert ">1,024 MB</text>" in dict(charts)["memory"]  # memory against the configured size
    assert "http-equiv='refresh'" in page and "window=10080" in page


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


def test_a_sign_in_link_sets_a_cookie_that_lives_no_longer_than_its_token():
    import jwt

    link = jwt.encode({"sub": "ops", "exp": int(time.time()) + 600}, "k" * 32, algorithm="HS256")
    evt = event(
        "GET",
        "/performance/dashboard",
        sub="ops",
        groups=ADMIN,
        query=f"format=html&window=60&access_token={link}",
    )
    evt["headers"]["x-forwarded-proto"] = "https"  # as API Gateway forwards an HTTPS request
    response = function("dashboard").handler(evt, LambdaContext("dashboard", 1024, 29))
    assert response["statusCode"] == 303
    assert response["headers"]["location"] == "/api/ai/v4/performance/dashboard?format=html&window=60"
    (cookie,) = response["cookies"]
    max_age = int(re.search(r"Max-Age=(\d+)", cookie).group(1))
    assert 590 <= max_age <= 600  # the token's 10 minutes, not the session's hour
    assert all(a in cookie for a in ("HttpOnly", "Secure", "SameSite=strict", f"aether_session={link};"))


def test_cloudwatch_that_cannot_be_read_is_a_503_not_a_500(monkeypatch, tmp_path):
    # As on a developer's machine: no credentials anywhere, no instance metadata to ask.
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    status, body = dashboard("source=cloudwatch")
    assert status == 503, body
    assert "CloudWatch cannot be read here (NoCredentialsError)" in body["error"]["message"]


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
