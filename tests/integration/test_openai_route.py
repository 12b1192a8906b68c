"""/v1 through the real chat handler, against the scripted upstream that records what it received:
every parameter honoured or refused by name, tool calls, faithful finish reasons, OpenAI's errors."""

import json

import pytest

from aether.agents.catalog import AGENTS
from aether.agents.router import route
from aether.services.openai_compat import PASSED, REFUSED
from aether_local.model_server import Reply
from tests.helpers import TOOL_CALL as CALL
from tests.helpers import WEATHER_TOOL as WEATHER
from tests.helpers import event as api_event
from tests.helpers import invoke, invoke_raw

LARGE = "llama-3.3-70b-versatile"
ASK = [{"role": "user", "content": "What is the weather in Paris?"}]


def v1(body: dict, sub: str, method: str = "POST", path: str = "/v1/chat/completions", key: str = "") -> dict:
    evt = api_event(method, "/x", body if method == "POST" else None, sub=sub)
    evt["rawPath"] = evt["requestContext"]["http"]["path"] = path
    evt["routeKey"] = evt["requestContext"]["routeKey"] = f"{method} {key or path}"
    return evt


def chunks_of(body: str) -> list[dict]:
    data = [block.removeprefix("data: ") for block in body.strip().split("\n\n")]
    assert data[-1] == "[DONE]"
    return [json.loads(d) for d in data[:-1]]


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


def test_every_honoured_parameter_reaches_the_provider_as_given(model, user):
    given = {
        "stop": ["\n\n", "END"],
        "seed": 7,
        "top_p": 0.5,
        "frequency_penalty": 0.25,
        "presence_penalty": -0.5,
        "response_format": {"type": "json_object"},
        "tools": [WEATHER],
        "tool_choice": "auto",
        "parallel_tool_calls": False,
        "user": "end-user-42",
    }
    assert set(given) == set(PASSED)
    body = {"model": LARGE, "messages": ASK, "max_completion_tokens": 77, "temperature": 0.3, **given}
    status, answer = invoke("chat", v1(body, user))
    assert status == 200, answer
    sent = model.requests[-1]
    assert {key: sent.get(key) for key in given} == given
    assert (sent["max_tokens"], sent["temperature"], sent["model"]) == (77, 0.3, LARGE)


def test_stream_options_without_a_stream_is_a_400(model, user):
    body = {"model": "aether-auto", "messages": ASK, "stream_options": {"include_usage": True}}
    status, answer = invoke("chat", v1(body, user))
    assert (
        status == 400 and "stream_options is only allowed when stream is true" in answer["error"]["message"]
    )
    assert model.requests == []


@pytest.mark.parametrize("name", [*REFUSED, "n", "best_of", "messages[0].name"])
def test_a_parameter_not_honoured_is_a_400_that_names_it(model, user, name):
    body = {"model": "aether-auto", "messages": [{"role": "user", "content": "hi"}]}
    if name == "messages[0].name":
        body["messages"][0]["name"] = "alice"
    else:
        body[name] = 2 if name == "n" else True
    response = invoke_raw("chat", v1(body, user))
    error = json.loads(response["body"])["error"]
    assert response["statusCode"] == 400 and error["type"] == "invalid_request_error"
    assert error["param"] == name and name.split(".")[-1] in error["message"]
    assert model.requests == []


def test_finish_reason_usage_and_fingerprint_are_the_providers(model, user):
    model.script(
        Reply(content="cut sho", completion_tokens=3, finish_reason="length", system_fingerprint="fp_1")
    )
    body = {"model": "aether-dev", "messages": ASK, "max_tokens": 3}
    status, answer = invoke("chat", v1(body, user))
    assert status == 200
    assert answer["choices"][0]["finish_reason"] == "length" and answer["system_fingerprint"] == "fp_1"
    usage = answer["usage"]
    assert usage["completion_tokens"] == 3 and usage["total_tokens"] == usage["prompt_tokens"] + 3
    # and the same from the cache
    status, again = invoke("chat", v1(body, user))
    assert again["aether"]["cached"] is True and again["choices"][0]["finish_reason"] == "length"


def test_a_tool_round_trip_and_tool_calls_are_not_cached(model, user):
    # Given a question with a tool the model decides to call
    model.script(
        Reply(tool_calls=[CALL], finish_reason="tool_calls"),
        Reply(tool_calls=[CALL], finish_reason="tool_calls"),
    )
    asked = {"model": "aether-auto", "messages": ASK, "tools": [WEATHER]}
    status, first = invoke("chat", v1(asked, user))
    # Then the call comes back as OpenAI gives it, and asking again asks the model again
    assert status == 200, first
    choice = first["choices"][0]
    assert choice["finish_reason"] == "tool_calls" and choice["message"]["tool_calls"] == [CALL]
    assert choice["message"]["content"] is None
    assert invoke("chat", v1(asked, user))[1]["aether"]["cached"] is False and len(model.requests) == 2
    # When the client sends the tool's result back
    model.script(Reply(content="It is 18 C in Paris."))
    result = {"role": "tool", "tool_call_id": "call_1", "content": '{"temperature_c": 18}'}
    follow = {
        **asked,
        "messages": [*ASK, {"role": "assistant", "content": None, "tool_calls": [CALL]}, result],
    }
    status, last = invoke("chat", v1(follow, user))
    # Then the model got the whole exchange, in order, and answered
    assert status == 200, last
    assert last["choices"][0]["message"]["content"] == "It is 18 C in Paris."
    sent = model.requests[-1]["messages"]
    assert [m["role"] for m in sent[-3:]] == ["user", "assistant", "tool"]
    assert sent[-2]["tool_calls"] == [CALL] and sent[-1] == result


def test_streamed_tool_calls_arrive_whole(model, user):
    model.script(Reply(tool_calls=[CALL], finish_reason="tool_calls"))
    body = {"model": "aether-auto", "messages": ASK, "tools": [WEATHER], "stream": True}
    response = invoke_raw("chat", v1(body, user))
    chunks = chunks_of(response["body"])
    pieces = [p for c in chunks for p in c["choices"][0]["delta"].get("tool_calls") or ()]
    assert len(pieces) > 2  # the arguments came in pieces, and are passed on as they came
    arguments = "".join(p["function"].get("arguments") or "" for p in pieces)
    assert arguments == CALL["function"]["arguments"] and pieces[0]["id"] == "call_1"
    assert chunks[-1]["choices"][0]["finish_reason"] == "tool_calls"


def test_usage_streams_only_when_asked_in_a_last_chunk_without_choices(model, user):
    body = {"model": "aether-luna", "messages": ASK, "stream": True}
    plain = chunks_of(invoke_raw("chat", v1(body, user))["body"])
    assert all("usage" not in c for c in plain) and plain[-1]["choices"][0]["finish_reason"] == "stop"
    asked = {
        **body,
        "messages": [{"role": "user", "content": "another"}],
        "stream_options": {"include_usage": True},
    }
    chunks = chunks_of(invoke_raw("chat", v1(asked, user))["body"])
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["total_tokens"] > 0
    assert chunks[-2]["choices"][0]["finish_reason"] == "stop"


def test_text_parts_are_text_and_other_parts_are_refused(model, user):
    parts = [{"type": "text", "text": "Explain "}, {"type": "text", "text": "CORS."}]
    status, _ = invoke("chat", v1({"model": LARGE, "messages": [{"role": "user", "content": parts}]}, user))
    assert status == 200 and model.requests[-1]["messages"][-1]["content"] == "Explain CORS."
    image = [{"type": "image_url", "image_url": {"url": "https://example.com/a.png"}}]
    status, body = invoke(
        "chat", v1({"model": LARGE, "messages": [{"role": "user", "content": image}]}, user)
    )
    assert status == 400 and body["error"]["param"] == "messages[0].content"
    assert "image_url" in body["error"]["message"] and len(model.requests) == 1


def test_a_model_id_is_a_raw_call_and_an_alias_keeps_its_agent(model, user):
    own = {"role": "system", "content": "You are a translator."}
    invoke("chat", v1({"model": LARGE, "messages": [own, {"role": "user", "content": "Bonjour"}]}, user))
    assert model.requests[-1]["messages"][0] == own
    invoke("chat", v1({"model": "aether-dev", "messages": [own, {"role": "user", "content": "Hallo"}]}, user))
    system = model.requests[-1]["messages"][0]["content"]
    assert system.startswith(AGENTS["dev"].system_prompt) and system.endswith(own["content"])


def test_errors_have_openais_values_and_the_request_id_is_a_header(model, user):
    response = invoke_raw("chat", v1({"model": "gpt-9", "messages": ASK}, user))
    error = json.loads(response["body"])["error"]
    assert response["statusCode"] == 404
    assert (error["type"], error["code"], error["param"]) == (
        "invalid_request_error",
        "model_not_found",
        "model",
    )
    evt = v1({"model": "aether-dev", "messages": []}, user)
    response = invoke_raw("chat", evt)
    assert response["statusCode"] == 400 and json.loads(response["body"])["error"]["param"] == "messages"
    assert response["headers"]["x-request-id"] == evt["requestContext"]["requestId"]
    status, found = invoke("chat", v1({}, user, "GET", f"/v1/models/{LARGE}", "/v1/models/{model+}"))
    assert status == 200 and found["id"] == LARGE
    status, missing = invoke("chat", v1({}, user, "GET", "/v1/models/gpt-9", "/v1/models/{model+}"))
    assert status == 404 and missing["error"]["code"] == "model_not_found"
    assert model.requests == []


def test_the_cache_key_covers_every_parameter_that_changes_the_answer(model, user):
    base = {"model": "aether-auto", "messages": ASK}
    variants = [
        {},
        {"stop": ["."]},
        {"seed": 1},
        {"response_format": {"type": "json_object"}},
        {"tools": [WEATHER]},
    ]
    for variant in variants:
        assert invoke("chat", v1({**base, **variant}, user))[1]["aether"]["cached"] is False
    assert len(model.requests) == len(variants)
    assert (
        invoke("chat", v1({**base, "seed": 1, "user": "someone else"}, user))[1]["aether"]["cached"] is True
    )


def test_a_request_the_model_refuses_is_the_callers_400_and_costs_nothing(model, db, user):
    model.script(Reply(status=400))  # as Groq answers a schema it cannot follow, or a bad tool_choice
    body = {"model": "aether-auto", "messages": ASK, "tool_choice": "required"}
    status, answer = invoke("chat", v1(body, user))
    assert status == 400 and answer["error"]["type"] == "invalid_request_error"
    assert answer["error"]["message"] == "the model refused the request: scripted status 400"
    assert db.usage.count_documents({"user_id": user}) == 0 and len(model.requests) == 1
