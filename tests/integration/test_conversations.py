"""GET /conversations and /conversations/search through the chat function's real handler.

Search needs MongoDB's `$text`; the mongoeco stand-in runs it with two bugs mended by
aether_local.mongo_server (see `_mend_text_search`), and a real MongoDB (MONGO_URL) needs nothing.
"""

import asyncio
import base64
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from bson import ObjectId
from pymongo import AsyncMongoClient, monitoring

from aether import clients
from aether_local.model_server import Reply
from tests.helpers import event, function, invoke

pytestmark = pytest.mark.usefixtures("indexes")


class Commands(monitoring.CommandListener):
    """The commands the handlers send, as (name, collection)."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, str]] = []

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        self.sent.append((event.command_name, str(event.command.get(event.command_name))))

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        pass

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass


@pytest.fixture
def commands(settings_env: pytest.MonkeyPatch, mongo_url: str) -> Iterator[Commands]:
    """The chat function's Mongo client, watched."""
    function("chat")  # the environment's event loop exists before the client is made
    listener = Commands()
    client: AsyncMongoClient = AsyncMongoClient(mongo_url, event_listeners=[listener])
    settings_env.setattr(clients, "_mongo", client)
    yield listener
    asyncio.get_event_loop().run_until_complete(client.close())


def conversation(user: str, updated_at: datetime, title: str) -> dict:
    return {
        "_id": ObjectId(),
        "user_id": user,
        "agent": "dev",
        "title": title,
        "created_at": updated_at - timedelta(minutes=5),
        "updated_at": updated_at,
        "message_count": 2,
    }


def message(user: str, content: str, role: str = "user") -> dict:
    return {
        "conversation_id": ObjectId(),
        "user_id": user,
        "role": role,
        "content": content,
        "agent": "dev",
        "model": None,
        "tokens": None,
        "created_at": datetime.now(UTC),
    }


def list_page(user: str, query: str = "") -> tuple[int, dict]:
    return invoke("chat", event("GET", "/conversations", sub=user, query=query))


def search(user: str, query: str) -> tuple[int, dict]:
    return invoke("chat", event("GET", "/conversations/search", sub=user, query=query))


def test_pages_walk_every_conversation_newest_first_and_only_the_callers(db, user, commands):
    # Given seven conversations of the caller (two updated in the same millisecond) and others' in between
    now = datetime.now(UTC).replace(microsecond=0)
    mine = [conversation(user, now - timedelta(minutes=i), f"mine {i}") for i in range(6)]
    mine.append(conversation(user, now - timedelta(minutes=2), "same time as mine 2"))
    theirs = [
        conversation(user + "-other", now - timedelta(minutes=i, seconds=30), "theirs") for i in range(6)
    ]
    db.conversations.insert_many(mine + theirs)
    newest_first = sorted(mine, key=lambda c: (c["updated_at"], c["_id"]), reverse=True)
    # When the caller walks the list three at a time
    pages, cursor = [], None
    while True:
        status, body = list_page(user, "limit=3" + (f"&cursor={cursor}" if cursor else ""))
        assert status == 200, body
        pages.append(body["conversations"])
        cursor = body["next_cursor"]
        if cursor is None:
            break
    # Then the pages hold every conversation of theirs once, newest first, and nobody else's
    assert [len(page) for page in pages] == [3, 3, 1]
    listed = [item["conversation_id"] for page in pages for item in page]
    assert listed == [str(c["_id"]) for c in newest_first]
    # And each page was one `find` on conversations
    assert commands.sent == [("find", "conversations")] * 3
    # And an item says what the conversation is
    first = pages[0][0]
    assert first == {
        "conversation_id": str(newest_first[0]["_id"]),
        "title": "mine 0",
        "agent": "dev",
        "created_at": (now - timedelta(minutes=5)).isoformat().replace("+00:00", "Z"),
        "updated_at": now.isoformat().replace("+00:00", "Z"),
        "message_count": 2,
    }


def test_a_chat_shows_up_in_the_list_with_its_messages_counted(model, user):
    model.script(Reply(content="First."), Reply(content="Second."))
    _, first = invoke("chat", event("POST", "/chat/optimized", {"message": "Plan my garden"}, sub=user))
    follow_up = {"message": "And the pond?", "conversation_id": first["conversation_id"], "agent": "sage"}
    invoke("chat", event("POST", "/chat/optimized", follow_up, sub=user))
    _, other = invoke("chat", event("POST", "/chat/optimized", {"message": "Something else"}, sub=user))
    status, body = list_page(user)
    assert status == 200, body
    assert body["next_cursor"] is None
    assert [c["conversation_id"] for c in body["conversations"]] == [
        other["conversation_id"],
        first["conversation_id"],
    ]
    garden = body["conversations"][1]
    assert (garden["title"], garden["agent"], garden["message_count"]) == ("Plan my garden", "sage", 4)
    assert list_page(user + "-nobody") == (200, {"conversations": [], "next_cursor": None})


@pytest.mark.parametrize(
    "cursor",
    [
        "nope",
        "!!!",
        base64.urlsafe_b64encode(b"1795750205123").decode(),
        base64.urlsafe_b64encode(b"soon:6b08f93d0000000000000005").decode(),
        base64.urlsafe_b64encode(b"1795750205123:not-an-id").decode(),
        base64.urlsafe_b64encode(b"99999999999999999999:6b08f93d0000000000000005").decode(),
    ],
)
def test_a_malformed_cursor_is_a_400_that_says_so(user, cursor):
    status, body = list_page(user, f"cursor={cursor}")
    assert status == 400, body
    assert body["error"]["code"] == "bad_request"
    assert body["error"]["message"] == "cursor is not valid: pass the next_cursor of the previous page as is"


@pytest.mark.parametrize("limit", ["0", "101", "ten"])
def test_limit_out_of_range_is_a_422(user, limit):
    status, body = list_page(user, f"limit={limit}")
    assert (status, body["error"]["code"]) == (422, "invalid_input")
    assert body["error"]["message"].startswith("query.limit:")


def test_search_finds_the_callers_messages_best_first_and_never_anothers(db, user):
    # Given the caller's messages and another user's with the same words
    db.messages.insert_many(
        [
            message(user, "How do I paginate a FastAPI endpoint with a cursor?"),
            message(user, "Paginate with a cursor: keyset pagination keeps a cursor per page.", "assistant"),
            message(user, "Unrelated question about gardens"),
            message(user + "-other", "How do I paginate a FastAPI endpoint with a cursor?"),
        ]
    )
    # When the caller searches
    status, body = search(user, "q=cursor")
    # Then only the caller's two matching messages come back, the better match first
    assert status == 200, body
    assert body["query"] == "cursor"
    hits = body["results"]
    assert [hit["role"] for hit in hits] == ["assistant", "user"]
    assert hits[0]["score"] > hits[1]["score"] > 0
    assert hits[1]["snippet"] == "How do I paginate a FastAPI endpoint with a cursor?"
    owners = {m["_id"]: m["user_id"] for m in db.messages.find({}, {"user_id": 1})}
    assert {owners[ObjectId(hit["message_id"])] for hit in hits} == {user}


def test_search_snippet_is_cut_around_the_match(db, user):
    db.messages.insert_one(message(user, "x " * 300 + "needle " + "y " * 300))
    status, body = search(user, "q=needle")
    assert status == 200, body
    snippet = body["results"][0]["snippet"]
    assert snippet.startswith("…") and snippet.endswith("…") and "needle" in snippet
    assert len(snippet) == 200 + 2


def test_search_never_returns_another_users_message_with_the_same_words(db, user, commands):
    # Given only another user has a message with these words
    db.messages.insert_one(message(user + "-other", "zebra crossing timetable"))
    # When the caller searches for them
    status, body = search(user, "q=zebra+timetable&limit=5")
    # Then nothing comes back, and it took one `find` on messages (user_id is part of that query)
    assert (status, body) == (200, {"query": "zebra timetable", "results": []})
    assert commands.sent == [("find", "messages")]


@pytest.mark.parametrize(
    ("query", "fragment"),
    [
        ("", "query.q: Field required"),
        ("q=", "query.q: String should have at least 1 character"),
        ("q=" + "a" * 201, "query.q: String should have at most 200 characters"),
        ("q=%21%3F", "query.q: must contain a word to search for"),
        ("q=ok&limit=51", "query.limit:"),
    ],
)
def test_search_input_is_checked(user, query, fragment):
    status, body = search(user, query)
    assert (status, body["error"]["code"]) == (422, "invalid_input")
    assert fragment in body["error"]["message"]


def test_a_search_of_200_characters_is_accepted(user):
    status, body = search(user, "q=" + "a" * 200)
    assert (status, body["results"]) == (200, [])


def test_conversation_routes_need_a_caller():
    for path in ("/conversations", "/conversations/search"):
        status, body = invoke("chat", event("GET", path, sub=None, query="q=x"))
        assert (status, body["error"]["code"]) == (401, "unauthorized")
