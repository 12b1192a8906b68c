"""Bad input gets a 4xx in one error shape that says what is wrong."""

import pytest

from tests.helpers import event, invoke, reset_process


def _error(status_and_body):
    status, body = status_and_body
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message", "request_id"}
    return status, body["error"]


@pytest.mark.parametrize(
    ("payload", "fragment"),
    [
        ({"message": "   "}, "message: must not be empty"),
        ({"message": "hi", "agent": "bob"}, "unknown agent 'bob'"),
        ({"message": "hi", "conversation_id": "not-an-id"}, "conversation_id: is not a conversation id"),
        ({"message": "hi", "temperature": 3}, "temperature"),
        ({"message": "hi", "max_tokens": 0}, "max_tokens"),
        ({}, "message: Field required"),
    ],
)
def test_invalid_chat_input_is_422_with_a_clear_message(model, payload, fragment):
    status, error = _error(invoke("chat", event("POST", "/chat/optimized", payload)))
    assert status == 422
    assert fragment in error["message"]
    assert model.requests == []


def test_oversized_message_names_the_configured_limit(model, settings_env):
    settings_env.setenv("MAX_MESSAGE_CHARS", "100")

    reset_process()
    status, error = _error(invoke("chat", event("POST", "/chat/optimized", {"message": "x" * 101})))
    assert status == 422
    assert "101 characters long; the limit is 100" in error["message"]


def test_default_message_limit_is_8000_characters(model):
    status, _ = invoke("chat", event("POST", "/chat/quick", {"message": "x" * 8000}))
    assert status == 200
    status, error = _error(invoke("chat", event("POST", "/chat/quick", {"message": "x" * 8001})))
    assert status == 422 and "limit is 8000" in error["message"]


def test_body_over_the_size_limit_is_413(model):
    status, error = _error(
        invoke("chat", event("POST", "/chat/quick", raw_body=b'{"message": "' + b"x" * 70_000 + b'"}'))
    )
    assert status == 413
    assert error["code"] == "payload_too_large"


def test_malformed_json_is_400():
    evt = event("POST", "/chat/optimized", raw_body=b'{"message": ')
    status, error = _error(invoke("chat", evt))
    assert status == 400
    assert error["message"] == "request body is not valid JSON: Expecting value at character 12"
    assert error["code"] == "invalid_json"
    assert error["request_id"] == evt["requestContext"]["requestId"]


def test_missing_identity_is_401():
    status, error = _error(invoke("chat", event("POST", "/chat/optimized", {"message": "hi"}, sub=None)))
    assert status == 401
    assert error["code"] == "unauthorized"


def test_non_admin_on_admin_route_is_403_and_admin_reaches_it():
    status, error = _error(invoke("dashboard", event("GET", "/performance/dashboard")))
    assert error["code"] == "forbidden"
    assert status == 403
    status, body = invoke("dashboard", event("GET", "/performance/dashboard", groups=["aether-admins"]))
    assert status == 200 and "routes" in body


def test_agents_lists_the_five_specialists():
    status, body = invoke("chat", event("GET", "/agents"))
    assert status == 200
    assert [a["name"] for a in body["agents"]] == ["dev", "luna", "atlas", "quinn", "sage"]
