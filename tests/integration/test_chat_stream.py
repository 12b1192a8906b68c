"""POST /chat/stream through the real handler (an HTTP API delivers the stream whole)."""

import asyncio
import json
import threading
import time
from datetime import UTC, datetime

import pytest

from aether import quota
from aether.agents.router import route
from aether.core import Invocation, Principal
from aether.llm.catalog import TIERS, cost_usd
from aether.services.chat import ChatRequest
from aether.services.chat_stream import chat_stream
from aether.services.openai_compat import CompletionRequest, completion_stream
from aether_local.model_server import Reply
from tests.helpers import event, events_of, function, invoke_raw, reset_process


def chain(message: str) -> tuple[str, ...]:
    """The models the router's tier gives a message, in fallback order."""
    return TIERS[route(message).tier]


def ask(user: str, message: str) -> tuple[int, dict[str, str], list[tuple[str, dict]]]:
    response = invoke_raw(
        "chat", event("POST", "/chat/stream", {"message": message, "agent": "luna"}, sub=user)
    )
    return response["statusCode"], response["headers"], events_of(response["body"])


def test_tokens_then_usage_and_the_turn_is_stored(model, db, user):
    model.script(Reply(content="Use a clear visual hierarchy", prompt_tokens=30, completion_tokens=5))
    status, headers, events = ask(user, "How should the settings page look?")
    assert status == 200 and headers["content-type"].startswith("text/event-stream")
    kinds = [kind for kind, _ in events]
    assert kinds[0] == "start" and kinds[-1] == "done" and set(kinds[1:-1]) == {"delta"}
    assert (
        "".join(data["content"] for kind, data in events if kind == "delta") == "Use a clear visual hierarchy"
    )
    assert len(kinds) - 2 == 5  # one delta per word, as the model sent them
    start, done = events[0][1], events[-1][1]
    first = chain("How should the settings page look?")[0]
    assert start["agent"] == "luna" and start["model"] == first
    assert start["routing"]["agent_reason"] == "requested" and start["routing"]["tier"] == start["tier"]
    assert (done["prompt_tokens"], done["completion_tokens"]) == (30, 5)
    assert done["cost_usd"] == cost_usd(first, 30, 5) and done["cached"] is False
    assert model.requests[-1]["stream"] is True
    stored = db.messages.find_one({"user_id": user, "role": "assistant"})
    assert stored["content"] == "Use a clear visual hierarchy"
    assert [r["endpoint"] for r in db.usage.find({"user_id": user})] == ["chat/stream"]


def test_a_cached_answer_streams_at_once(model, user):
    model.script(Reply(content="cached words here"))
    ask(user, "stream me twice")
    calls = len(model.requests)
    status, _, events = ask(user, "stream me twice")
    assert status == 200 and len(model.requests) == calls
    assert [kind for kind, _ in events] == ["start", "delta", "done"]
    assert events[1][1]["content"] == "cached words here"
    assert events[-1][1]["cached"] is True and events[-1][1]["cost_usd"] == 0


def test_a_failure_mid_stream_is_an_error_event_charged_for_what_came_and_nothing_is_cached(model, db, user):
    model.script(Reply(content="one two three four", fail_after_chunks=2))
    _, _, events = ask(user, "break off please")
    assert [kind for kind, _ in events] == ["start", "delta", "delta", "error"]
    assert set(events[-1][1]["error"]) == {"code", "message", "request_id"}
    received = "".join(data["content"] for kind, data in events if kind == "delta")
    (record,) = db.usage.find({"user_id": user})  # the call reached the provider: it is charged
    assert record["partial"] is True and record["completion_tokens"] == len(received.encode())
    calls = len(model.requests)
    model.script(Reply(content="whole answer"))
    _, _, events = ask(user, "break off please")
    assert len(model.requests) == calls + 1  # the partial answer was not cached
    assert events[-1][0] == "done"


def test_the_stream_falls_back_before_the_first_token(model, user, settings_env):
    settings_env.setenv("LLM_MAX_ATTEMPTS", "1")
    reset_process()
    model.script(Reply(status=503), Reply(content="from the fallback"))
    _, _, events = ask(user, "fall back while streaming")
    assert events[-1][0] == "done" and events[-1][1]["model"] == chain("fall back while streaming")[1]


def test_time_to_first_token_is_a_metric(model, user, capfd):
    capfd.readouterr()
    model.script(Reply(content="first token soon"))
    ask(user, "measure the first token")
    documents = [json.loads(x) for x in capfd.readouterr().out.splitlines() if x.startswith('{"_aws"')]
    ttft = [d for d in documents if "TimeToFirstToken" in d]
    assert ttft and ttft[0]["model"] == chain("measure the first token")[0]


def test_no_round_trip_per_token(model, user, capfd, monkeypatch, settings_env):
    from redis.asyncio.connection import AbstractConnection

    settings_env.setenv("RATE_LIMIT_REFRESH_MS", "3600000")  # no headroom re-read in between
    settings_env.setenv("USAGE_OUTBOX_CHECK_MS", "3600000")  # no look at the usage outbox in between
    reset_process()
    sends = []
    original = AbstractConnection.send_packed_command

    async def counting(self, *args, **kwargs):
        sends.append(1)
        await original(self, *args, **kwargs)

    monkeypatch.setattr(AbstractConnection, "send_packed_command", counting)

    def round_trips(words: int) -> tuple[int, int]:
        sends.clear()
        capfd.readouterr()
        model.script(Reply(content=" ".join(["word"] * words)))
        ask(user, f"a new question of {words} words")
        documents = [json.loads(x) for x in capfd.readouterr().out.splitlines() if x.startswith('{"_aws"')]
        mongo = sum(len(d["DbLatency"]) for d in documents if "DbLatency" in d)
        return mongo, len(sends)

    round_trips(2)  # warm: connections open, headroom read
    assert round_trips(3) == round_trips(60)  # Mongo commands and Redis sends, 3 tokens or 60


def test_a_client_that_goes_away_is_sent_nothing_more_and_the_provider_usage_is_recorded(model, db, user):
    # Given a model that streams slowly
    model.script(
        Reply(content="one two three four five six seven eight", completion_tokens=8, chunk_delay_s=0.01)
    )

    async def scenario() -> list[bytes]:
        invocation = Invocation("partial-1", time.monotonic() + 20)
        request = ChatRequest(message="leave early", agent="sage")
        events = await chat_stream(request, Principal(user, False), invocation)
        received = [await anext(events), await anext(events), await anext(events)]  # start, two deltas
        await events.aclose()  # what Starlette does when the client disconnects
        return received

    function("chat")  # the environment's event loop, which the clients are bound to
    received = asyncio.get_event_loop().run_until_complete(scenario())
    assert received[0].startswith(b"event: start")
    # the rest of the answer was read for the provider's own count
    record = db.usage.find_one({"user_id": user})
    assert record["partial"] is True and record["completion_tokens"] == 8
    assert db.messages.count_documents({"user_id": user}) == 0  # an unfinished answer is not stored


def test_a_request_cancelled_while_it_waits_for_the_model_is_still_charged_the_provider_usage(
    model, db, user
):
    # Given a model that streams slowly, and a client whose request is cancelled (as uvicorn does
    # when it disconnects) while it waits for the next delta
    model.script(
        Reply(content="one two three four five six seven eight", completion_tokens=8, chunk_delay_s=0.02)
    )

    async def scenario() -> None:
        invocation = Invocation("cancel-mid-wait", time.monotonic() + 20)
        request = ChatRequest(message="cancel me while waiting", agent="sage")
        two_deltas = asyncio.Event()

        async def client() -> None:
            events = await chat_stream(request, Principal(user, False), invocation)
            received = 0
            async for _ in events:
                received += 1
                if received == 3:  # start, two deltas
                    two_deltas.set()

        task = asyncio.create_task(client())
        await two_deltas.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    function("chat")
    asyncio.get_event_loop().run_until_complete(scenario())
    # Then the call was read on to its end by a task of its own: the provider's count is charged
    record = db.usage.find_one({"user_id": user})
    assert record["partial"] is True and record["completion_tokens"] == 8


def test_an_openai_stream_cancelled_under_uvicorn_is_charged_a_bound_on_what_came_and_settles_the_budget(
    model, db, redis_sync, user
):
    # Given a model that sends its first token and then holds the rest past the request's deadline
    held = threading.Event()
    model.script(Reply(content="alpha beta gamma", hold_after_first_chunk=held))
    request = CompletionRequest(
        model="aether-sage", messages=[{"role": "user", "content": "plan it"}], stream=True
    )

    async def scenario() -> None:
        invocation = Invocation("cancel-1", time.monotonic() + 1)
        chunks = await completion_stream(request, Principal(user, False), invocation)
        await anext(chunks)  # the role chunk
        await anext(chunks)  # "alpha"
        # Starlette under uvicorn cancels the response task when the client disconnects
        with pytest.raises(asyncio.CancelledError):
            await chunks.athrow(asyncio.CancelledError())

    function("chat")  # the environment's event loop, which the clients are bound to
    try:
        asyncio.get_event_loop().run_until_complete(scenario())
    finally:
        held.set()
    # no usage came from the provider: the bytes received bound the tokens produced from above
    record = db.usage.find_one({"user_id": user})
    assert record["partial"] is True and record["completion_tokens"] == len(b"alpha")
    day = quota.keys_of(user, datetime.now(UTC)).day
    assert int(redis_sync.hget(day, "spent")) == record["cost_nano"]  # the partial's cost, not the worst case
