"""Conversations and their messages (a separate collection, never an unbounded array)."""

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from bson import ObjectId

from aether import clients
from aether.errors import NotFound
from aether.store.writes import already_stored, bounded, mongo_errors, read_or_503
from aether.telemetry import count, logger

__all__ = [
    "TURN_WRITE_ATTEMPTS",
    "History",
    "Position",
    "Turn",
    "list_recent",
    "load_history",
    "save_turn",
    "search_messages",
]

# Indexes the queries below need (aether.store.indexes applies them by command, not at cold start).
MESSAGES_HISTORY_INDEX = [("conversation_id", 1), ("user_id", 1), ("created_at", -1)]
CONVERSATIONS_RECENT_INDEX = [("user_id", 1), ("updated_at", -1), ("_id", -1)]
# A text index with user_id as its prefix: a search reads only the caller's entries, and MongoDB
# refuses a $text query on messages that lacks the user_id equality.
MESSAGES_TEXT_INDEX: list[tuple[str, int | str]] = [("user_id", 1), ("content", "text")]

_RECENT_ORDER = [("updated_at", -1), ("_id", -1)]
_SUMMARY_FIELDS = {"title": 1, "agent": 1, "created_at": 1, "updated_at": 1, "message_count": 1}
_TEXT_SCORE = {"$meta": "textScore"}


@dataclass(frozen=True, slots=True)
class History:
    messages: list[dict[str, str]]  # role and content, oldest first
    agent: str | None  # the agent of the latest turn


async def load_history(user_id: str, conversation_id: ObjectId, limit: int) -> History:
    """The last `limit` messages of the caller's conversation, oldest first, and the agent that
    answered last; 404 if it is not theirs.

    One round trip: messages carry user_id, so ownership is part of the query.
    """
    cursor = (
        clients.mongo_db()
        .messages.find(
            {"conversation_id": conversation_id, "user_id": user_id},
            {"_id": 0, "role": 1, "content": 1, "agent": 1},
        )
        .sort([("created_at", -1), ("_id", -1)])
        .limit(limit)
    )
    with read_or_503("the conversation's history"):  # a follow-up cannot be answered without it
        docs = await cursor.to_list(length=limit)
    if not docs:
        raise NotFound("conversation not found")
    return History(
        [{"role": d["role"], "content": d["content"]} for d in reversed(docs)], docs[0].get("agent")
    )


@dataclass(frozen=True, slots=True)
class Turn:
    """One user message and the assistant's answer."""

    user_id: str
    conversation_id: ObjectId
    is_new: bool
    agent: str
    model: str
    user_message: str
    answer: str
    prompt_tokens: int
    completion_tokens: int
    asked_at: datetime
    # The two messages' ids, made once: a repeated write of the turn finds them already stored
    message_ids: tuple[ObjectId, ObjectId] = field(default_factory=lambda: (ObjectId(), ObjectId()))


TURN_WRITE_ATTEMPTS = 2  # a write of a turn that fails is tried once more, then reported


async def save_turn(turn: Turn) -> bool:
    """Upsert the conversation and insert both messages, concurrently (two commands, one stage).

    Both writes can run twice without effect: the messages carry their ids, and the conversation
    is updated only if its `last_message_id` is not this turn's answer (a new conversation's
    second upsert is a duplicate key). So a write that fails is retried, up to
    TURN_WRITE_ATTEMPTS in all; True when the turn is stored, else False, logged and counted.
    """
    db = clients.mongo_db()
    now = datetime.now(UTC)
    user_id, answer_id = turn.user_id, turn.message_ids[1]
    update: dict[str, object] = {
        "$set": {"updated_at": now, "agent": turn.agent, "last_message_id": answer_id},
        "$inc": {"message_count": 2},
    }
    if turn.is_new:
        update["$setOnInsert"] = {"title": turn.user_message[:80], "created_at": turn.asked_at}
    messages = [
        {
            "_id": turn.message_ids[0],
            "conversation_id": turn.conversation_id,
            "user_id": user_id,
            "role": "user",
            "content": turn.user_message,
            "agent": turn.agent,
            "model": None,
            "tokens": None,
            "created_at": turn.asked_at,
        },
        {
            "_id": answer_id,
            "conversation_id": turn.conversation_id,
            "user_id": user_id,
            "role": "assistant",
            "content": turn.answer,
            "agent": turn.agent,
            "model": turn.model,
            "tokens": {"prompt": turn.prompt_tokens, "completion": turn.completion_tokens},
            "created_at": now,
        },
    ]
    conversation = {"_id": turn.conversation_id, "user_id": user_id, "last_message_id": {"$ne": answer_id}}
    writes: dict[str, Callable[[], Awaitable[object]]] = {
        "conversation": lambda: db.conversations.update_one(conversation, update, upsert=turn.is_new),
        "messages": lambda: db.messages.insert_many(messages, ordered=False),
    }
    errors: dict[str, str] = {}
    for attempt in range(1, TURN_WRITE_ATTEMPTS + 1):
        names = list(writes)
        outcomes = await asyncio.gather(*(_attempt(writes[name]) for name in names))
        errors = {name: error for name, error in zip(names, outcomes, strict=True) if error}
        if not errors:
            return True
        writes = {name: writes[name] for name in errors}
        if attempt < TURN_WRITE_ATTEMPTS:
            logger.warning("conversation write failed; retrying", extra={"errors": errors})
    logger.error(
        "conversation turn not stored",
        extra={"conversation_id": str(turn.conversation_id), "user_id": user_id, "errors": errors},
    )
    count("TurnsNotStored")
    return False


async def _attempt(write: Callable[[], Awaitable[object]]) -> str | None:
    """Run one write within MONGO_TIMEOUT_MS; None if it is stored, else the error's name."""
    try:
        with bounded():
            await write()
    except mongo_errors() as exc:
        if not already_stored(exc):
            return type(exc).__name__
    return None


@dataclass(frozen=True, slots=True)
class Position:
    """Where a page of the conversation list ends: the sort key of its last conversation."""

    updated_at: datetime
    conversation_id: ObjectId


async def list_recent(user_id: str, limit: int, after: Position | None) -> list[dict[str, Any]]:
    """Up to `limit` of the caller's conversations, newest first (updated_at, then _id), after `after`.

    Keyset pagination: one `find` whatever the page number, served by CONVERSATIONS_RECENT_INDEX.
    """
    query: dict[str, Any] = {"user_id": user_id}
    if after is not None:
        query["$or"] = [
            {"updated_at": {"$lt": after.updated_at}},
            {"updated_at": after.updated_at, "_id": {"$lt": after.conversation_id}},
        ]
    cursor = clients.mongo_db().conversations.find(query, _SUMMARY_FIELDS).sort(_RECENT_ORDER).limit(limit)
    with read_or_503("your conversations"):
        return await cursor.to_list(length=limit)


async def search_messages(user_id: str, text: str, limit: int) -> list[dict[str, Any]]:
    """The caller's messages matching `text` ($text syntax: words, "phrases", -exclusions), best first.

    One `find` on MESSAGES_TEXT_INDEX; user_id is part of the query, so another user's message is
    never read, and each message carries its text score.
    """
    cursor = (
        clients.mongo_db()
        .messages.find(
            {"$text": {"$search": text}, "user_id": user_id},
            {"conversation_id": 1, "role": 1, "content": 1, "created_at": 1, "score": _TEXT_SCORE},
        )
        .sort([("score", _TEXT_SCORE), ("_id", -1)])
        .limit(limit)
    )
    with read_or_503("your messages"):
        return await cursor.to_list(length=limit)
