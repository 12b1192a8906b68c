"""What a handler emits: EMF metrics (names, units, dimensions), logs with the request id."""

import io
import json
import uuid

from aether.http.telemetry import UNMATCHED
from aether.telemetry import logger
from aether.telemetry.catalog import METRICS
from aether_local.model_server import Reply
from tests.helpers import event, invoke, invoke_raw, reset_process


def emf_documents(output: str) -> list[dict]:
    return [json.loads(line) for line in output.splitlines() if line.startswith('{"_aws"')]


def metrics_of(documents: list[dict]) -> dict[str, list[tuple[dict[str, str], object]]]:
    """metric name -> [(its dimensions, its value)] across the documents."""
    found: dict[str, list[tuple[dict[str, str], object]]] = {}
    for document in documents:
        (directive,) = document["_aws"]["CloudWatchMetrics"]
        assert directive["Namespace"] == "Aether"
        (dimension_names,) = directive["Dimensions"]
        dimensions = {name: document[name] for name in dimension_names}
        for metric in directive["Metrics"]:
            name = metric["Name"]
            unit, extra = METRICS[name]
            assert metric["Unit"] == unit, name
            assert sorted(dimension_names) == sorted(("service", *extra)), name
            value = document[name]
            found.setdefault(name, []).append((dimensions, value[0] if isinstance(value, list) else value))
    return found


def test_a_chat_request_emits_route_model_cache_and_environment_metrics(model, user, capfd):
    capfd.readouterr()
    model.script(Reply(content="ok", prompt_tokens=100, completion_tokens=20))
    status, body = invoke("chat", event("POST", "/chat/optimized", {"message": "emit metrics"}, sub=user))
    assert status == 200
    found = metrics_of(emf_documents(capfd.readouterr().out))
    assert found["Requests"] == [({"service": "chat", "route": "chat/optimized"}, 1.0)]
    assert found["Latency"][0][0] == {"service": "chat", "route": "chat/optimized"}
    assert found["TokensIn"] == [({"service": "chat", "model": body["model"]}, 100.0)]
    assert found["TokensOut"] == [({"service": "chat", "model": body["model"]}, 20.0)]
    assert found["CostUSD"][0][1] == body["cost_usd"]
    assert "ModelLatency" in found and "DbLatency" in found and "CpuTime" in found
    assert found["CacheMiss"] == [({"service": "chat"}, 1.0)]
    assert {dims["tier"] for dims, _ in found["TierMisses"]} == {"l2", "l3"}
    assert found["MemoryUsedMB"][0][1] > 10
    assert 0 < found["MemoryUtilization"][0][1] < 100  # of the 1,024 MB the context reports
    assert "Errors5xx" not in found


def test_a_failed_request_counts_an_error_and_logs_with_the_request_id(model, user, capfd, settings_env):
    settings_env.setenv("LLM_MAX_ATTEMPTS", "1")

    reset_process()
    capfd.readouterr()
    model.script(Reply(status=500), Reply(status=500))
    evt = event("POST", "/chat/quick", {"message": "fail"}, sub=user)
    handler = logger.registered_handler
    log_stream = io.StringIO()
    previous = handler.setStream(log_stream)
    try:
        status, _ = invoke("chat", evt)
    finally:
        handler.setStream(previous)
    assert status == 502
    output = capfd.readouterr().out
    found = metrics_of(emf_documents(output))
    assert found["Errors5xx"] == [({"service": "chat", "route": "chat/quick"}, 1.0)]
    assert found["ModelFallbacks"] == [({"service": "chat"}, 1.0)]
    logs = [json.loads(line) for line in log_stream.getvalue().splitlines()]
    failure = next(log for log in logs if log["message"] == "request failed")
    assert failure["correlation_id"] == evt["requestContext"]["requestId"]
    assert failure["service"] == "chat"


def test_route_labels_come_from_matched_routes_only(redis_sync, capfd):
    # Given a thousand requests for paths no route has, with and without a caller
    capfd.readouterr()
    for i in range(1000):
        evt = event("GET", f"/nothing-here/{uuid.uuid4().hex}", sub=None if i % 2 else "someone")
        evt["routeKey"] = evt["requestContext"]["routeKey"] = "$default"  # API Gateway's catch-all
        status, _ = invoke("chat", evt)
        assert status == 404
    # Then every one of them is counted under one label, in the metrics and in the live minutes
    found = metrics_of(emf_documents(capfd.readouterr().out))
    assert {dims["route"] for dims, _ in found["Requests"]} == {UNMATCHED}
    live = {
        field.split(b"|")[1]
        for key in redis_sync.scan_iter("aether:live:*")
        for field in redis_sync.hkeys(key)
        if field.startswith(b"route|")
    }
    assert not any(b"nothing-here" in label for label in live)


def server_timing(value: str) -> dict[str, float]:
    """A Server-Timing header as name -> milliseconds."""
    found = {}
    for entry in value.split(","):
        name, duration = entry.strip().split(";dur=")
        found[name] = float(duration)
    return found


def answered(evt: dict, capfd) -> tuple[dict, dict]:
    """The raw handler response and its route's EMF line (the request's structured line)."""
    capfd.readouterr()
    response = invoke_raw("chat", evt)
    (line,) = [doc for doc in emf_documents(capfd.readouterr().out) if "route" in doc]
    return response, line


def test_every_response_says_where_its_time_went(model, user, capfd):
    # Given a model that takes at least 50 ms to answer
    model.script(Reply(content="timed", delay_s=0.05))
    ask = {"message": "where does the time go?"}
    # When a question is answered by the model, and then again from the cache
    evt = event("POST", "/chat/optimized", ask, sub=user)
    miss, line = answered(evt, capfd)
    hit, _ = answered(event("POST", "/chat/optimized", ask, sub=user), capfd)
    # Then the miss's Server-Timing has the model (its 50 ms at least), the database (the turn and
    # usage written before the response), the cache and quota round trips, its own work and total
    timed = server_timing(miss["headers"]["server-timing"])
    assert {"model", "db", "cache", "quota", "aether", "total"} <= timed.keys()
    assert timed["model"] >= 50
    assert all(0 <= ms <= timed["total"] for ms in timed.values())
    assert timed["aether"] + timed["model"] <= timed["total"]
    # And the request's structured line (its route's EMF document) has the same figures, with the
    # live-minute write after them, its status and its request id
    assert line["route"] == "chat/optimized" and line["status"] == 200
    assert line["request_id"] == evt["requestContext"]["requestId"]
    assert line["timing_ms"]["model"] == timed["model"] and "telemetry" in line["timing_ms"]
    # And the hit spent nothing on a model
    assert "model" not in server_timing(hit["headers"]["server-timing"])
    assert json.loads(hit["body"])["cached"] is True


def test_a_stream_sends_what_is_known_before_its_first_byte(model, user, capfd):
    model.script(Reply(content="streamed words", delay_s=0.05))
    response, line = answered(event("POST", "/chat/stream", {"message": "time my stream"}, sub=user), capfd)
    assert response["statusCode"] == 200
    # The headers left before the model was asked: no model time in them; the request's line has it
    assert "model" not in server_timing(response["headers"]["server-timing"])
    assert line["timing_ms"]["model"] >= 50
