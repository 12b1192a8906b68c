"""Idempotency-Key on the POST chat routes, through the real handlers."""

import asyncio

import pytest

from aether.core import Principal
from aether.errors import Conflict
from aether.idempotency import once
from aether.services.chat import QuickRequest
from aether_local.model_server import Reply
from tests.helpers import event, function, invoke, invoke_raw


def post(path: str, body: dict, user: str, key: str, function_name: str = "chat") -> tuple[int, dict]:
    return invoke(function_name, event("POST", path, body, sub=user, headers={"idempotency-key": key}))


@pytest.mark.parametrize(
    ("path", "body", "function_name"),
    [
        ("/chat/optimized", {"message": "Design a login form", "agent": "luna"}, "chat"),
        ("/chat/quick", {"message": "What is a mutex?"}, "chat"),
        ("/chat/multi-agent", {"message": "Plan the launch", "agents": ["sage", "atlas"]}, "multi_agent"),
    ],
)
def test_a_retry_gets_the_first_answer_without_a_second_call_or_record(
    model, db, user, path, body, function_name
):
    first = post(path, body, user, "key-1", function_name)
    calls = len(model.requests)
    second = post(path, body, user, "key-1", function_name)
    assert first[0] == second[0] == 200
    assert second[1] == first[1]  # the same answer, request id included
    assert len(model.requests) == calls
    assert db.usage.count_documents({"user_id": user}) == calls


def test_the_same_key_with_another_body_is_a_422_and_keys_are_per_user(model, user):
    assert post("/chat/quick", {"message": "first question"}, user, "key-2")[0] == 200
    status, body = post("/chat/quick", {"message": "another question"}, user, "key-2")
    assert status == 422 and "different request" in body["error"]["message"]
    calls = len(model.requests)
    # another caller's identical key and body is another record: their request runs
    assert post("/chat/quick", {"message": "first question"}, user + "-b", "key-2")[0] == 200
    assert len(model.requests) == calls + 1


def test_a_failed_request_releases_its_key(model, user):
    model.script(Reply(status=500), Reply(status=500), Reply(status=500), Reply(status=500))
    assert post("/chat/quick", {"message": "will fail"}, user, "key-3")[0] == 502
    model.reset()
    status, body = post("/chat/quick", {"message": "will fail"}, user, "key-3")
    assert status == 200 and body["content"]


def test_a_stream_is_replayed_whole(model, user):
    model.script(Reply(content="streamed once"))
    request = event(
        "POST",
        "/chat/stream",
        {"message": "Stream it", "agent": "dev"},
        sub=user,
        headers={"idempotency-key": "k4"},
    )
    first = invoke_raw("chat", request)
    second = invoke_raw("chat", request)
    assert first["statusCode"] == second["statusCode"] == 200
    assert second["body"] == first["body"] and "event: done" in first["body"]
    assert len(model.requests) == 1


def test_a_retry_while_the_first_is_running_is_a_409(model, user):
    principal, body = Principal(user, False), QuickRequest(message="slow one")
    running, release = asyncio.Event(), asyncio.Event()

    async def slow() -> dict:
        running.set()  # it runs only once it holds the key
        await release.wait()
        return {"answer": 1}

    async def scenario() -> tuple[dict, Conflict]:
        first = asyncio.ensure_future(once(principal, "k5", "chat/quick", body, slow, dict))
        await running.wait()
        with pytest.raises(Conflict) as refused:
            await once(principal, "k5", "chat/quick", body, slow, dict)
        release.set()
        return await first, refused.value

    function("chat")  # the environment's event loop, which the clients are bound to
    answer, conflict = asyncio.get_event_loop().run_until_complete(scenario())
    assert answer == {"answer": 1}
    assert conflict.status == 409 and conflict.retry_after_s == 1
