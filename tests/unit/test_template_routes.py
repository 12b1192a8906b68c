"""The SAM template and the functions' FastAPI apps agree on every route."""

import re
from pathlib import Path

from aether_local.template import read_template
from tests.helpers import ROOT, function

EXPECTED = {
    ("POST", "/api/ai/v4/chat/optimized"): "chat",
    ("POST", "/api/ai/v4/chat/quick"): "chat",
    ("POST", "/api/ai/v4/chat/stream"): "chat",
    ("GET", "/api/ai/v4/agents"): "chat",
    ("GET", "/api/ai/v4/conversations"): "chat",
    ("GET", "/api/ai/v4/conversations/search"): "chat",
    ("POST", "/api/ai/v4/cache/clear"): "chat",
    ("POST", "/v1/chat/completions"): "chat",
    ("GET", "/v1/models"): "chat",
    ("GET", "/v1/models/{model+}"): "chat",
    ("POST", "/api/ai/v4/chat/multi-agent"): "multi_agent",
    ("GET", "/api/ai/v4/analytics/user"): "analytics",
    ("GET", "/api/ai/v4/performance/dashboard"): "dashboard",
    ("GET", "/api/ai/v4/health/detailed"): "dashboard",
}


def test_template_routes_are_the_api():
    routes = read_template(ROOT / "template.yaml")
    assert {(r.method, r.path): r.function.name for r in routes} == EXPECTED
    assert all(r.function.handler == "app.handler" for r in routes)
    assert all(r.authorized for r in routes)


def test_each_function_app_serves_exactly_its_template_routes():
    for name in {"chat", "multi_agent", "analytics", "dashboard"}:
        app = function(name).app
        served = {
            (
                method,
                re.sub(r"\{(\w+):path\}", r"{\1+}", route.path),
            )  # FastAPI's {x:path} is API Gateway's {x+}
            for route in app.routes
            for method in getattr(route, "methods", ())
        }
        assert served == {key for key, owner in EXPECTED.items() if owner == name}, name


def test_every_route_has_an_event_file_for_its_function():
    for path in Path(ROOT / "events").glob("*.json"):
        assert path.stem.split("_")[0] in {"chat", "multi", "analytics", "dashboard"}
    import json

    route_keys = {json.loads(p.read_text())["routeKey"] for p in (ROOT / "events").glob("*.json")}
    assert route_keys == {f"{m} {p}" for m, p in EXPECTED}
