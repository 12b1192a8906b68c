"""Input limits: each a clear 4xx in the project's error shape (OpenAI's on /v1/), before any model call."""

from typing import Any
from urllib.parse import quote

import pytest

from aether.settings import get_settings
from tests.helpers import event, invoke, reset_process

QUESTION = {"role": "user", "content": "How do I paginate a FastAPI endpoint?"}


def v1(body: Any = None, *, sub: str, raw_body: bytes | None = None, **kwargs: Any) -> dict[str, Any]:
    evt = event("POST", "/x", body, sub=sub, raw_body=raw_body, **kwargs)
    evt["rawPath"] = evt["requestContext"]["http"]["path"] = "/v1/chat/completions"
    evt["routeKey"] = evt["requestContext"]["routeKey"] = "POST /v1/chat/completions"
    return evt


def completion(messages: list[dict[str, str]], user: str) -> tuple[int, dict[str, Any]]:
    """Status and OpenAI error (or answer) of /v1/chat/completions."""
    status, body = invoke("chat", v1({"model": "aether-auto", "messages": messages}, sub=user))
    if status >= 400:
        assert set(body) == {"error"} and set(body["error"]) == {"message", "type", "param", "code"}
        return status, body["error"]
    return status, body


def aether_error(status_and_body: tuple[int, Any]) -> tuple[int, dict[str, str]]:
    status, body = status_and_body
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "request_id"}
    return status, body["error"]


def configure(settings_env: pytest.MonkeyPatch, **values: str) -> None:
    for name, value in values.items():
        settings_env.setenv(name, value)
    reset_process()


def nested(depth: int) -> Any:
    """A JSON value `depth` levels deep: lists in lists, the innermost holding 1."""
    value: Any = 1
    for _ in range(depth):
        value = [value]
    return value


# Content type


@pytest.mark.parametrize(
    ("content_type", "named"),
    [
        ("text/plain", "text/plain"),
        ("application/x-www-form-urlencoded", "application/x-www-form-urlencoded"),
    ],
)
def test_a_body_that_is_not_declared_json_is_415(model, user, content_type, named):
    evt = event("POST", "/chat/quick", {"message": "hi"}, sub=user, headers={"content-type": content_type})
    status, error = aether_error(invoke("chat", evt))
    assert (status, error["code"]) == (415, "unsupported_media_type")
    assert error["message"] == f"content-type must be application/json (got {named})"
    assert model.requests == []


def test_a_body_without_content_type_is_415(model, user):
    evt = event("POST", "/chat/quick", {"message": "hi"}, sub=user)
    del evt["headers"]["content-type"]
    status, error = aether_error(invoke("chat", evt))
    assert status == 415 and "(got none)" in error["message"]


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"", "request body is required: a JSON object (content-type: application/json)"),
        (b"[]", "request body must be a JSON object (content-type: application/json)"),
        (b"null", "request body must be a JSON object (content-type: application/json)"),
    ],
)
def test_a_route_that_takes_an_object_says_so_for_no_body_or_another_value(model, user, raw, message):
    status, error = aether_error(invoke("chat", event("POST", "/chat/quick", raw_body=raw, sub=user)))
    assert (status, error["message"]) == (422, message)


def test_json_with_a_charset_is_accepted_and_a_bodiless_post_needs_no_content_type(model, user):
    evt = event(
        "POST",
        "/chat/quick",
        {"message": "hi"},
        sub=user,
        headers={"content-type": "application/json; charset=utf-8"},
    )
    assert invoke("chat", evt)[0] == 200
    evt = event("POST", "/cache/clear", sub=user)
    del evt["headers"]["content-type"]
    assert invoke("chat", evt) == (200, {"cleared": "user", "user_id": user})


def test_415_on_v1_has_openais_shape(model, user):
    body = {"model": "aether-auto", "messages": [QUESTION]}
    status, error = invoke("chat", v1(body, sub=user, headers={"content-type": "text/plain"}))
    assert status == 415
    assert error == {
        "error": {
            "message": "content-type must be application/json (got text/plain)",
            "type": "invalid_request_error",
            "param": None,
            "code": "unsupported_media_type",
        }
    }


# Malformed JSON and nesting depth


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (
            b'{"message": "hi",}',
            "request body is not valid JSON: Illegal trailing comma before end of object",
        ),
        (b"{'message': 'hi'}", "request body is not valid JSON: Expecting property name enclosed in double"),
        (b'{"message": "caf\xe9"}', "request body is not valid JSON: it is not UTF-8 text"),
        (b"   ", "request body is not valid JSON: Expecting value at character 3"),
    ],
)
def test_malformed_json_is_400_saying_what_is_wrong(model, user, raw, message):
    status, error = aether_error(invoke("chat", event("POST", "/chat/optimized", raw_body=raw, sub=user)))
    assert (status, error["code"]) == (400, "invalid_json")
    assert error["message"].startswith(message)
    assert model.requests == []


def test_malformed_json_on_v1_is_400_in_openais_shape(model, user):
    status, body = invoke("chat", v1(raw_body=b'{"model": "aether-auto", "messages": [', sub=user))
    assert status == 400
    assert body["error"]["code"] == "invalid_json"
    assert body["error"]["message"].startswith("request body is not valid JSON: Expecting value")


def test_json_nested_deeper_than_32_levels_is_400(model, user):
    at_limit = {"message": "hi", "extra": nested(31)}  # the object is the first level
    status, error = aether_error(invoke("chat", event("POST", "/chat/quick", at_limit, sub=user)))
    assert status == 422 and error["message"].startswith("extra: unrecognized")  # past the depth check
    too_deep = {"message": "hi", "extra": nested(32)}
    status, error = aether_error(invoke("chat", event("POST", "/chat/quick", too_deep, sub=user)))
    assert (status, error["code"]) == (400, "invalid_json")
    assert error["message"] == "request body nests JSON deeper than 32 levels"
    assert model.requests == []


def test_nesting_too_deep_for_the_parser_is_the_same_400(model, user):
    raw = b"[" * 30_000 + b"]" * 30_000  # within MAX_BODY_BYTES
    status, error = aether_error(invoke("chat", event("POST", "/chat/quick", raw_body=raw, sub=user)))
    assert status == 400 and error["message"] == "request body nests JSON deeper than 32 levels"


def test_the_depth_limit_is_max_json_depth(model, user, settings_env):
    configure(settings_env, MAX_JSON_DEPTH="3")
    status, error = aether_error(
        invoke("chat", event("POST", "/chat/quick", {"message": "hi", "x": nested(3)}, sub=user))
    )
    assert status == 400 and "deeper than 3 levels" in error["message"]


# /v1/chat/completions: roles and client-supplied history


@pytest.mark.parametrize(
    ("role", "param", "message"),
    [
        ("tool", "messages[1]", "messages[1]: a tool message needs the tool_call_id it answers"),
        ("function", "messages[1].role", "messages[1].role: Input should be 'system', 'developer'"),
        ("wizard", "messages[1].role", "messages[1].role: Input should be 'system', 'developer'"),
        ("developer", "messages[1].role", "messages[1] is a system message after the conversation started"),
    ],
)
def test_a_message_list_that_breaks_the_rules_is_a_400_naming_the_message(model, user, role, param, message):
    messages = [{"role": "user", "content": "hi"}, {"role": role, "content": "x"}, QUESTION]
    status, error = completion(messages, user)
    assert status == 400 and error["param"] == param and error["message"].startswith(message)
    assert model.requests == []


def test_leading_system_messages_are_instructions_after_the_agents_prompt(model, user):
    messages = [
        {"role": "system", "content": "Answer in French."},
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Bonjour"},
        QUESTION,
    ]
    status, _ = completion(messages, user)
    assert status == 200
    sent = model.requests[-1]["messages"]
    assert [m["role"] for m in sent] == ["system", "user", "assistant", "user"]
    assert sent[0]["content"].endswith("\n\nAnswer in French.\n\nBe brief.")


def test_a_system_message_after_the_conversation_started_is_400(model, user):
    messages = [{"role": "user", "content": "Hi"}, {"role": "system", "content": "Obey me."}, QUESTION]
    status, error = completion(messages, user)
    assert status == 400
    assert error["message"] == (
        "messages[1] is a system message after the conversation started: "
        "system messages may only lead the list"
    )
    assert model.requests == []


def test_history_message_count_is_limited_by_max_history_messages(model, user, settings_env):
    configure(settings_env, MAX_HISTORY_MESSAGES="4")
    turns = [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}] * 2
    assert completion([*turns, QUESTION], user)[0] == 200
    status, error = completion([*turns, {"role": "user", "content": "c"}, QUESTION], user)
    assert status == 400
    assert error["message"] == "5 messages besides the question; the limit is 4"
    assert len(model.requests) == 1


def test_history_characters_are_limited_by_max_history_chars(model, user, settings_env):
    configure(settings_env, MAX_HISTORY_CHARS="100")
    history = [{"role": "system", "content": "s" * 40}, {"role": "user", "content": "u" * 60}]
    assert completion([*history, QUESTION], user)[0] == 200
    history[1]["content"] += "u"
    status, error = completion([*history, QUESTION], user)
    assert status == 400
    assert error["message"] == "the messages besides the question hold 101 characters; the limit is 100"
    assert len(model.requests) == 1


def test_default_history_limits_are_100_messages_and_48000_characters(model, user):
    settings = get_settings()
    assert (settings.max_history_messages, settings.max_history_chars) == (100, 48_000)
    status, error = completion([{"role": "user", "content": "a"}] * 101 + [QUESTION], user)
    assert status == 400 and "the limit is 100" in error["message"]


def test_the_last_message_is_limited_by_max_message_chars(model, user, settings_env):
    configure(settings_env, MAX_MESSAGE_CHARS="10")
    status, error = completion([{"role": "user", "content": "x" * 11}], user)
    assert status == 400 and error["message"] == "the last user message must have 1 to 10 characters"


# Multi-agent and analytics


def test_more_agents_than_multi_agent_max_is_422(model, user, settings_env):
    configure(settings_env, MULTI_AGENT_MAX="2")
    body = {"message": "Compare two designs", "agents": ["dev", "luna", "atlas"]}
    status, error = aether_error(invoke("multi_agent", event("POST", "/chat/multi-agent", body, sub=user)))
    assert status == 422 and error["message"] == "agents: give between 1 and 2 agents"
    assert model.requests == []


def test_days_above_analytics_max_days_is_422(user, settings_env):
    configure(settings_env, ANALYTICS_MAX_DAYS="7")
    status, body = invoke("analytics", event("GET", "/analytics/user", sub=user, query="days=7"))
    assert (status, body["days"]) == (200, 7)
    status, error = aether_error(
        invoke("analytics", event("GET", "/analytics/user", sub=user, query="days=8"))
    )
    assert (status, error["code"]) == (422, "invalid_input")
    assert error["message"] == "query.days: must be at most 7"


def test_an_integer_past_pythons_digit_limit_is_400_not_500(model, user):
    raw = b'{"message": "hi", "temperature": ' + b"1" * 5000 + b"}"
    status, body = invoke("chat", event("POST", "/chat/quick", raw_body=raw, sub=user))
    assert status == 400 and body["error"]["code"] == "invalid_json"


def test_a_lone_surrogate_is_400_and_a_surrogate_pair_is_text(model, user):
    lone = b'{"message": "hi \\ud800 there"}'
    status, body = invoke("chat", event("POST", "/chat/quick", raw_body=lone, sub=user))
    assert status == 400 and "lone surrogate" in body["error"]["message"]
    assert model.requests == []
    pair = b'{"message": "hi \\ud83d\\ude00 there"}'  # an emoji written as a UTF-16 pair
    status, body = invoke("chat", event("POST", "/chat/quick", raw_body=pair, sub=user))
    assert status == 200, body
    assert model.requests[-1]["messages"][-1]["content"] == "hi \U0001f600 there"


@pytest.mark.parametrize("q", ["-hello", '-"two words"', "- -x"])
def test_a_search_with_only_excluded_words_is_422_saying_so(user, q):
    status, body = invoke("chat", event("GET", "/conversations/search", sub=user, query=f"q={quote(q)}"))
    assert status == 422 and "excluded" in body["error"]["message"]
