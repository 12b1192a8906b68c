"""Auth on every route, and one user never reaching another's data, through the real handlers."""

import json
import uuid
from typing import Any

import pytest

from aether_local.events import http_api_event
from aether_local.model_server import Reply
from aether_local.template import Route, read_template
from tests.helpers import ROOT, event, invoke

pytestmark = pytest.mark.usefixtures("indexes")  # search needs the text index

ROUTES = read_template(ROOT / "template.yaml")
ADMIN_ROUTES = {"GET /api/ai/v4/performance/dashboard"}
BODIES: dict[str, Any] = {
    "/v1/chat/completions": {"model": "aether-auto", "messages": [{"role": "user", "content": "hi"}]},
    "/api/ai/v4/chat/multi-agent": {"message": "hi", "agents": ["dev"]},
}


def call(route: Route, claims: dict[str, str] | None) -> tuple[int, Any]:
    body = BODIES.get(route.path, {"message": "hi"}) if route.method == "POST" else None
    query = "q=hello" if route.path.endswith("/search") else ""
    evt = http_api_event(
        method=route.method,
        path=route.path,
        query=query,
        headers={"content-type": "application/json"},
        body=b"" if body is None else json.dumps(body).encode(),
        route_key=route.route_key,
        path_parameters={},
        claims=claims,
    )
    return invoke(route.function.name, evt)


@pytest.mark.parametrize("route", [r for r in ROUTES if r.authorized], ids=lambda r: r.route_key)
def test_every_authorized_route_is_401_without_identity(route, model):
    status, body = call(route, None)
    assert status == 401, body
    assert call(route, {"email": "someone@example.com"})[0] == 401  # claims without a subject


@pytest.mark.parametrize(
    "route", [r for r in ROUTES if r.route_key in ADMIN_ROUTES], ids=lambda r: r.route_key
)
def test_admin_routes_are_403_for_users_and_open_to_the_admin_group_or_scope(route, model):
    assert call(route, {"sub": "plain-user"})[0] == 403
    assert call(route, {"sub": "plain-user", "cognito:groups": "[other-group]"})[0] == 403
    assert call(route, {"sub": "admin-1", "cognito:groups": "[aether-admins]"})[0] == 200
    assert call(route, {"sub": "admin-2", "scope": "openid aether/admin"})[0] == 200


def test_every_admin_route_is_known_to_this_test():
    keys = {r.route_key for r in ROUTES}
    assert keys >= ADMIN_ROUTES
    assert "GET /api/ai/v4/health/detailed" in keys  # any caller; its details are for admins only


@pytest.fixture
def alice_and_bob(model, user) -> tuple[str, str, str, str]:
    """Alice has a conversation holding a word only she used, and a cached answer."""
    alice, bob = user + "-alice", user + "-bob"
    word = f"zebra{uuid.uuid4().hex[:8]}"
    model.responder = lambda body: Reply(content=f"Answer about {word}")
    status, answer = invoke(
        "chat", event("POST", "/chat/optimized", {"message": f"Tell me about {word}"}, sub=alice)
    )
    assert status == 200
    return alice, bob, word, answer["conversation_id"]


def test_conversations_and_search_show_only_the_callers_own(alice_and_bob):
    alice, bob, word, conversation_id = alice_and_bob

    def listed(sub: str) -> list[str]:
        page = invoke("chat", event("GET", "/conversations", sub=sub))[1]
        return [c["conversation_id"] for c in page["conversations"]]

    def found(sub: str) -> list[dict]:
        return invoke("chat", event("GET", "/conversations/search", query=f"q={word}", sub=sub))[1]["results"]

    assert conversation_id in listed(alice) and conversation_id not in listed(bob)
    assert found(alice) and found(bob) == []


def test_nobody_continues_another_users_conversation(alice_and_bob, model):
    _, bob, _, conversation_id = alice_and_bob
    calls = len(model.requests)
    status, body = invoke(
        "chat",
        event("POST", "/chat/optimized", {"message": "more", "conversation_id": conversation_id}, sub=bob),
    )
    assert status == 404 and body["error"]["code"] == "not_found"
    assert len(model.requests) == calls


def test_analytics_count_only_the_callers_usage(alice_and_bob):
    alice, bob, _, _ = alice_and_bob

    def requests(sub: str) -> int:
        return invoke("analytics", event("GET", "/analytics/user", query="days=1", sub=sub))[1]["summary"][
            "requests"
        ]

    assert (requests(alice), requests(bob)) == (1, 0)


def test_clearing_the_cache_clears_only_the_callers_answers(alice_and_bob, model):
    alice, bob, word, _ = alice_and_bob
    assert invoke("chat", event("POST", "/cache/clear", sub=bob))[0] == 200
    calls = len(model.requests)
    status, again = invoke(
        "chat", event("POST", "/chat/optimized", {"message": f"Tell me about {word}"}, sub=alice)
    )
    assert status == 200 and again["cached"] is True
    assert len(model.requests) == calls
