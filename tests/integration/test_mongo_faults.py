"""MongoDB down: chat still answers, usage waits in a Redis outbox and drains once, nothing is lost.

Each test runs its own mongoeco server (memory engine) on a fixed port, stops it to make MongoDB
unreachable and starts it again on the same port to bring it back; Redis is the session's, or a
port nothing listens on when Redis must be down too.
"""

import asyncio
import json
import logging
import math
import subprocess
import uuid
from collections import Counter
from collections.abc import Coroutine, Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest
from bson import ObjectId, json_util
from pymongo import MongoClient
from redis import Redis

from aether import clients
from aether.store import conversations, usage
from aether.store.outbox import OUTBOX_KEY, Outbox
from aether.telemetry import logger
from aether_local.model_server import Reply
from aether_local.mongo_server import start_mongo
from tests.helpers import (
    event,
    events_of,
    free_port,
    function,
    invoke,
    invoke_raw,
    new_environment,
    reset_process,
)

BATCH = 5


@dataclass
class OwnMongo:
    """A mongoeco server this test may stop and start again on the same port."""

    port: int
    db_name: str = field(default_factory=lambda: f"aether_fault_{uuid.uuid4().hex[:8]}")
    process: subprocess.Popen[str] | None = None
    client: MongoClient | None = None

    @property
    def url(self) -> str:
        return f"mongodb://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.process, _ = start_mongo(port=self.port)

    def stop(self) -> None:
        assert self.process is not None
        self.process.terminate()
        self.process.wait(10)
        self.process = None

    def db(self) -> Any:
        if self.client is None:
            self.client = MongoClient(self.url)
        return self.client[self.db_name]


def in_environment[T](coroutine: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine on the event loop the handlers' clients are bound to."""
    return asyncio.get_event_loop().run_until_complete(coroutine)


def fresh_clients() -> None:
    """Drop the environment's clients, cache and outbox state; the next use reads the settings."""
    function("chat")  # the environment's event loop exists before clients are dropped
    in_environment(clients.close_all())
    reset_process()


@pytest.fixture
def own_mongo(settings_env: pytest.MonkeyPatch, redis_sync: Redis) -> Iterator[OwnMongo]:
    mongo = OwnMongo(free_port())
    mongo.start()
    settings_env.setenv("MONGO_URL", mongo.url)
    settings_env.setenv("MONGO_DB", mongo.db_name)
    settings_env.setenv("MONGO_TIMEOUT_MS", "300")
    settings_env.setenv("USAGE_OUTBOX_BATCH", str(BATCH))
    settings_env.setenv("REDIS_TIMEOUT_MS", "2000")  # a busy test machine must not look like a Redis fault
    # Where usage goes when MongoDB fails, for callers without budgets: a budget needs MongoDB's
    # word for a caller Redis does not know (test_budget_faults.py)
    settings_env.setenv("DEFAULT_PLAN", "unlimited")
    redis_sync.delete(OUTBOX_KEY)
    fresh_clients()
    new_environment()
    yield mongo
    fresh_clients()
    new_environment()
    redis_sync.delete(OUTBOX_KEY)
    if mongo.client is not None:
        mongo.client.close()
    if mongo.process is not None:
        mongo.stop()


def chat(sub: str, message: str) -> dict[str, Any]:
    status, body = invoke("chat", event("POST", "/chat/optimized", {"message": message}, sub=sub))
    assert status == 200, body
    return body


def outbox(redis_sync: Redis) -> list[dict[str, Any]]:
    return [json_util.loads(value) for value in redis_sync.lrange(OUTBOX_KEY, 0, -1)]


def test_usage_waits_in_the_outbox_while_mongo_is_down_and_drains_exactly_once(
    model, user, own_mongo, redis_sync
):
    n = 12
    own_mongo.stop()
    # Given MongoDB unreachable, n chats all answer, and none pretends its turn was stored
    sent = []
    for i in range(n):
        answer = chat(f"{user}-down-{i}", f"question {i} while the database is away")
        assert answer["content"] and answer["stored"] is False and answer["conversation_id"] is None
        sent.append(answer["request_id"])
    # Then the outbox holds exactly their n usage records
    waiting = outbox(redis_sync)
    assert sorted(d["request_id"] for d in waiting) == sorted(sent)
    # When MongoDB is back (an empty server on the same address) and chats go on
    own_mongo.start()
    fresh_clients()  # a client made while it was down would wait for its next heartbeat
    after = []
    while redis_sync.llen(OUTBOX_KEY) and len(after) <= n // BATCH + 1:
        answer = chat(f"{user}-up-{len(after)}", f"question {len(after)} once the database is back")
        assert answer["stored"] is True
        after.append(answer["request_id"])
    # Then each write stage drained one batch, and every record is in MongoDB exactly once
    assert redis_sync.llen(OUTBOX_KEY) == 0
    assert len(after) == math.ceil(n / BATCH)
    stored = list(own_mongo.db().usage.find({"user_id": {"$regex": f"^{user}-"}}))
    by_request = Counter(d["request_id"] for d in stored)
    assert by_request == Counter(sent + after)  # n drained + one per later chat, none twice
    drained = {d["_id"]: d for d in stored if d["request_id"] in sent}
    assert drained.keys() == {d["_id"] for d in waiting}  # the same records, with their own ids
    assert all(drained[d["_id"]]["prompt_tokens"] == d["prompt_tokens"] for d in waiting)
    assert own_mongo.db().conversations.count_documents({"user_id": {"$regex": f"^{user}-"}}) == len(after)


def usage_document(user_id: str, request_id: str) -> dict[str, Any]:
    record = usage.UsageRecord(
        user_id=user_id,
        endpoint="chat/optimized",
        agent="dev",
        model="llama-3.1-8b-instant",
        prompt_tokens=10,
        completion_tokens=5,
        cost_usd=0.001,
        latency_ms=12.5,
        request_id=request_id,
    )
    return {"_id": ObjectId(), **asdict(record), "ts": datetime.now(UTC)}


def test_two_environments_draining_at_once_store_each_record_once(user, own_mongo, redis_sync):
    # Given 23 records in the outbox, 3 of them already inserted by an environment that stopped
    # before removing them from the list
    documents = [usage_document(user, f"req-{i}") for i in range(23)]
    own_mongo.db().usage.insert_many(documents[:3])
    first, second = Outbox(), Outbox()
    assert in_environment(first.push(documents))

    async def drain_all(environment: Outbox) -> int:
        drained = 0
        while moved := await environment.drain():
            drained += moved
        return drained

    # When two environments drain the outbox concurrently, batch by batch
    moved = in_environment(asyncio.gather(drain_all(first), drain_all(second)))
    # Then the outbox is empty and the collection holds each of the 23 records once
    assert redis_sync.llen(OUTBOX_KEY) == 0
    assert sum(moved) >= len(documents)  # a batch both read is inserted by both
    ids = [d["_id"] for d in own_mongo.db().usage.find({"user_id": user}, {"_id": 1})]
    assert sorted(ids) == sorted(d["_id"] for d in documents)


def test_a_normal_request_looks_at_the_outbox_only_when_due(
    model, user, own_mongo, settings_env, monkeypatch
):
    from redis.asyncio.connection import AbstractConnection

    settings_env.setenv("USAGE_OUTBOX_CHECK_MS", "3600000")
    reset_process()
    looks: list[int] = []
    original = AbstractConnection.send_packed_command

    async def counting(self: AbstractConnection, command: Any, *args: Any, **kwargs: Any) -> None:
        packed = b"".join(command) if isinstance(command, list) else command
        looks[-1] += packed.count(OUTBOX_KEY.encode())
        await original(self, command, *args, **kwargs)

    monkeypatch.setattr(AbstractConnection, "send_packed_command", counting)
    for i in range(3):
        looks.append(0)
        assert chat(user, f"an ordinary question {i}")["stored"] is True
    # A new environment looks once (the outbox is empty), then not again within the interval
    assert looks == [1, 0, 0]


def log_lines(records: list[logging.LogRecord]) -> list[dict[str, Any]]:
    """The JSON lines Powertools' formatter makes of these records, as CloudWatch Logs gets them."""
    return [json.loads(logger.registered_formatter.format(record)) for record in records]


def metrics(output: str) -> dict[str, list[float]]:
    documents = [json.loads(line) for line in output.splitlines() if line.startswith('{"_aws"')]
    return {name: values for d in documents for name, values in d.items() if isinstance(values, list)}


def test_with_mongo_and_redis_down_the_record_is_logged_and_the_answer_says_not_stored(
    model, user, own_mongo, settings_env, capfd, caplog
):
    own_mongo.stop()
    settings_env.setenv("REDIS_URL", f"redis://127.0.0.1:{free_port()}/0")  # nothing listens there
    fresh_clients()
    model.script(Reply(content="An answer nobody can store", prompt_tokens=21, completion_tokens=6))
    capfd.readouterr()
    # When a chat is asked with both stores down
    answer = chat(user, "does anything survive?")
    output = capfd.readouterr().out
    # Then it answers, and says the turn was not stored
    assert answer["content"] == "An answer nobody can store"
    assert answer["stored"] is False and answer["conversation_id"] is None
    lines = log_lines(caplog.records)
    messages = [line["message"] for line in lines]
    # the conversation write was tried twice, then reported
    assert messages.count("conversation write failed; retrying") == 1
    assert messages.count("conversation turn not stored") == 1
    # the usage record is one log line holding the whole record, and a metric counts it
    (logged,) = [line for line in lines if line["message"] == usage.NOT_STORED]
    assert logged["level"] == "ERROR"
    counted = metrics(output)
    assert counted["UsageLogged"] == [1.0] and counted["TurnsNotStored"] == [1.0]
    # And the line is enough to recover the record once MongoDB is back (twice does no harm)
    own_mongo.start()
    recovered = json_util.loads(json.dumps(logged["usage_record"]))
    own_mongo.db().usage.insert_one(recovered)
    with pytest.raises(Exception, match="duplicate key"):
        own_mongo.db().usage.insert_one(recovered)
    (stored,) = own_mongo.db().usage.find({"user_id": user})
    assert (stored["request_id"], stored["prompt_tokens"], stored["completion_tokens"]) == (
        answer["request_id"],
        21,
        6,
    )
    assert isinstance(stored["_id"], ObjectId) and isinstance(stored["ts"], datetime)


def test_a_stream_says_its_turn_was_not_stored_and_its_usage_waits_in_the_outbox(
    model, user, own_mongo, redis_sync
):
    own_mongo.stop()
    response = invoke_raw("chat", event("POST", "/chat/stream", {"message": "stream it anyway"}, sub=user))
    events = events_of(response["body"])
    assert response["statusCode"] == 200
    assert [kind for kind, _ in events][-1] == "done"
    assert events[-1][1]["stored"] is False
    assert [d["endpoint"] for d in outbox(redis_sync)] == ["chat/stream"]


def turn(user_id: str) -> conversations.Turn:
    return conversations.Turn(
        user_id=user_id,
        conversation_id=ObjectId(),
        is_new=True,
        agent="dev",
        model="llama-3.1-8b-instant",
        user_message="hello",
        answer="hi",
        prompt_tokens=3,
        completion_tokens=1,
        asked_at=datetime.now(UTC),
    )


def test_a_turn_written_twice_is_stored_once(user, own_mongo):
    # A retry after a write that reached MongoDB but whose reply was lost repeats the same turn
    first = turn(user)
    assert in_environment(conversations.save_turn(first))
    assert in_environment(conversations.save_turn(first))
    db = own_mongo.db()
    assert db.messages.count_documents({"conversation_id": first.conversation_id}) == 2
    assert db.conversations.find_one({"_id": first.conversation_id})["message_count"] == 2
    # while a next turn of the same conversation counts
    second = conversations.Turn(**{**asdict(first), "is_new": False, "message_ids": (ObjectId(), ObjectId())})
    assert in_environment(conversations.save_turn(second))
    assert db.conversations.find_one({"_id": first.conversation_id})["message_count"] == 4


def test_a_follow_up_while_mongo_is_down_is_a_503_that_says_retry(model, user, own_mongo):
    first = chat(user, "a first question")
    own_mongo.stop()
    fresh_clients()
    follow_up = {"message": "and then?", "conversation_id": first["conversation_id"]}
    response = invoke_raw("chat", event("POST", "/chat/optimized", follow_up, sub=user))
    assert response["statusCode"] == 503
    assert json.loads(response["body"])["error"]["message"].startswith("the conversation's history cannot")
    assert response["headers"]["retry-after"] == "5"


@pytest.mark.parametrize(
    ("function_name", "path", "query"),
    [
        ("chat", "/conversations", ""),
        ("chat", "/conversations/search", "q=hello"),
        ("analytics", "/analytics/user", "days=7"),
        ("dashboard", "/performance/dashboard", ""),
    ],
)
def test_reads_while_mongo_is_down_are_503s_that_say_retry(user, own_mongo, function_name, path, query):
    own_mongo.stop()
    fresh_clients()
    admin = ["aether-admins"] if function_name == "dashboard" else None
    response = invoke_raw(function_name, event("GET", path, sub=user, query=query, groups=admin))
    assert response["statusCode"] == 503, response["body"]
    assert json.loads(response["body"])["error"]["message"].endswith(
        "cannot be read right now; retry shortly"
    )
    assert response["headers"]["retry-after"] == "5"
