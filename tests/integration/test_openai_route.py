"""/v1/chat/completions through the real chat handler: routing, cache and usage as on /chat/optimized."""

from aether.agents.router import route
from aether_local.model_server import Reply
from tests.helpers import event as api_event
from tests.helpers import invoke


def v1(body: dict, sub: str) -> dict:
    evt = api_event("POST", "/x", body, sub=sub)
    evt["rawPath"] = evt["requestContext"]["http"]["path"] = "/v1/chat/completions"
    evt["routeKey"] = evt["requestContext"]["routeKey"] = "POST /v1/chat/completions"
    return evt


def test_routing_cache_and_usage_apply(model, db, user):
    model.script(Reply(content="Use pytest fixtures", prompt_tokens=20, completion_tokens=4))
    body = {
        "model": "aether-auto",
        "messages": [{"role": "user", "content": "How do I write a flaky-free test suite?"}],
    }
    status, first = invoke("chat", v1(body, user))
    assert status == 200, first
    assert first["choices"][0]["message"]["content"] == "Use pytest fixtures"
    assert first["aether"]["agent"] == route(body["messages"][0]["content"]).agent
    assert (
        first["aether"]["routing"]["agent"] == first["aether"]["agent"] and first["aether"]["cached"] is False
    )
    status, second = invoke("chat", v1(body, user))
    assert second["aether"]["cached"] is True and second["aether"]["cost_usd"] == 0
    assert len(model.requests) == 1
    records = list(db.usage.find({"user_id": user}))
    assert [r["endpoint"] for r in records] == ["v1/chat/completions"] * 2
    assert [r["cache_tier"] is not None for r in records] == [False, True]


def test_a_catalog_model_id_is_pinned(model, user):
    body = {"model": "openai/gpt-oss-120b", "messages": [{"role": "user", "content": "hello"}]}
    status, answer = invoke("chat", v1(body, user))
    assert status == 200 and answer["model"] == "openai/gpt-oss-120b"
    assert model.requests[-1]["model"] == "openai/gpt-oss-120b"


def test_errors_use_openais_shape(model, user):
    status, body = invoke("chat", v1({"model": "aether-dev", "messages": []}, user))
    assert status == 422
    assert set(body["error"]) == {"message", "type", "param", "code"}
