"""Idempotency-Key on the POST chat routes, through the real handlers."""

import asyncio
import hashlib
import time
from datetime import datetime

import pytest

from aether import clients
from aether.core import Invocation, Principal
from aether.errors import Conflict
from aether.idempotency import once
from aether.services.chat import QuickRequest
from aether.store import idempotency as records
from aether_local.model_server import Reply
from tests.helpers import event, free_port, function, invoke, invoke_raw, reset_process


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


def test_a_retry_while_the_first_is_running_waits_for_its_answer(model, user, monkeypatch):
    principal, body = Principal(user, False), QuickRequest(message="slow one")
    running, waiting, release = asyncio.Event(), asyncio.Event(), asyncio.Event()
    calls = []

    async def slow() -> dict:
        calls.append(1)
        running.set()  # it runs only once it holds the key
        await release.wait()
        return {"answer": 1}

    find = records.find

    async def watched_find(record_id: str) -> dict | None:
        found = await find(record_id)
        waiting.set()  # the retry found the first one's claim
        return found

    monkeypatch.setattr(records, "find", watched_find)

    async def scenario() -> tuple[dict, dict]:
        first = asyncio.ensure_future(once(principal, later(), "k5", "chat/quick", body, slow, dict))
        await running.wait()
        retry = asyncio.ensure_future(once(principal, later(), "k5", "chat/quick", body, slow, dict))
        await waiting.wait()
        release.set()
        return await first, await retry

    function("chat")  # the environment's event loop, which the clients are bound to
    answer, replayed = asyncio.get_event_loop().run_until_complete(scenario())
    assert answer == replayed == {"answer": 1} and len(calls) == 1


def test_a_retry_whose_deadline_comes_first_is_a_409(model, user):
    principal, body = Principal(user, False), QuickRequest(message="slow one")
    running, release = asyncio.Event(), asyncio.Event()

    async def slow() -> dict:
        running.set()
        await release.wait()
        return {"answer": 1}

    async def scenario() -> tuple[dict, Conflict]:
        first = asyncio.ensure_future(once(principal, later(), "k6", "chat/quick", body, slow, dict))
        await running.wait()
        with pytest.raises(Conflict) as refused:
            await once(
                principal, Invocation("due-now", time.monotonic()), "k6", "chat/quick", body, slow, dict
            )
        release.set()
        return await first, refused.value

    function("chat")
    answer, conflict = asyncio.get_event_loop().run_until_complete(scenario())
    assert answer == {"answer": 1}
    assert conflict.status == 409 and conflict.retry_after_s == 1


def later() -> Invocation:
    return Invocation(f"req-{time.monotonic_ns()}", time.monotonic() + 20)


def test_a_claim_whose_environment_died_is_taken_over_once_its_lease_lapses(model, db, user):
    # Given a claim left running by an environment that died (its lease over)
    body = {"message": "What is a mutex?"}
    post("/chat/quick", body, user, "key-died")
    mine = {"_id": {"$regex": f"^{hashlib.sha256(user.encode()).hexdigest()[:32]}:"}}
    db.idempotency.update_many(
        mine,
        {"$set": {"state": "running", "lease_until": datetime(2000, 1, 1)}, "$unset": {"answer": ""}},
    )
    calls = len(model.requests)
    # When the key is sent again, the request runs instead of waiting for ever
    status, _ = post("/chat/quick", body, user, "key-died")
    assert status == 200 and len(model.requests) == calls + 1


def test_a_key_that_cannot_be_honoured_is_a_503_not_ignored(model, user, settings_env):
    function("chat")
    asyncio.get_event_loop().run_until_complete(clients.close_all())
    settings_env.setenv("MONGO_URL", f"mongodb://127.0.0.1:{free_port()}/?serverSelectionTimeoutMS=300")
    settings_env.setenv("MONGO_TIMEOUT_MS", "300")
    settings_env.setenv("DEFAULT_PLAN", "unlimited")  # the key, not the budget, is what is checked
    reset_process()
    try:
        response = invoke_raw(
            "chat", event("POST", "/chat/quick", {"message": "x"}, sub=user, headers={"idempotency-key": "k"})
        )
    finally:
        asyncio.get_event_loop().run_until_complete(clients.close_all())
    assert response["statusCode"] == 503 and response["headers"]["retry-after"] == "5"
    assert model.requests == []
