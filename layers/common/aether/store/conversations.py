"""Conversations and their messages (a separate collection, never an unbounded array)."""

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from bson import ObjectId

from aether import clients
from aether.errors import NotFound

__all__ = ["Position", "Turn", "list_recent", "load_history", "save_turn", "search_messages"]

# Indexes the queries below need (aether.store.indexes applies them by command, not at cold start).
MESSAGES_HISTORY_INDEX = [("conversation_id", 1), ("user_id", 1), ("created_at", -1)]
CONVERSATIONS_RECENT_INDEX = [("user_id", 1), ("updated_at", -1), ("_id", -1)]
# A text index with user_id as its prefix: a search reads only the caller's entries, and MongoDB
# refuses a $text query on messages that lacks the user_id equality.
MESSAGES_TEXT_INDEX = [("user_id", 1), ("content", "text")]

_RECENT_ORDER = [("updated_at", -1), ("_id", -1)]
_SUMMARY_FIELDS = {"title": 1, "agent": 1, "created_at": 1, "updated_at": 1, "message_count": 1}
_TEXT_SCORE = {"$meta": "textScore"}


async def load_history(user_id: str, conversation_id: ObjectId, limit: int) -> list[dict[str, str]]:
    """The last `limit` messages of the caller's conversation, oldest first; 404 if it is not theirs.

    One round trip: messages carry user_id, so ownership is part of the query.
    """
    cursor = (
        clients.mongo_db()
        .messages.find(
            {"conversation_id": conversation_id, "user_id": user_id},
            {"_id": 0, "role": 1, "content": 1},
        )
        .sort([("created_at", -1), ("_id", -1)])
        .limit(limit)
    )
    docs = await cursor.to_list(length=limit)
    if not docs:
        raise NotFound("conversation not found")
    return [{"role": d["role"], "content": d["content"]} for d in reversed(docs)]


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


async def save_turn(turn: Turn) -> None:
    """Upsert the conversation and insert both messages, concurrently (two commands, one stage)."""
    db = clients.mongo_db()
    now = datetime.now(UTC)
    update: dict[str, object] = {
        "$set": {"updated_at": now, "agent": turn.agent},
        "$inc": {"message_count": 2},
    }
    if turn.is_new:
        update["$setOnInsert"] = {"title": turn.user_message[:80], "created_at": turn.asked_at}
    messages = [
        {
            "conversation_id": turn.conversation_id,
            "user_id": turn.user_id,
            "role": "user",
            "content": turn.user_message,
            "agent": turn.agent,
            "model": None,
            "tokens": None,
            "created_at": turn.asked_at,
        },
        {
            "conversation_id": turn.conversation_id,
            "user_id": turn.user_id,
            "role": "assistant",
            "content": turn.answer,
            "agent": turn.agent,
            "model": turn.model,
            "tokens": {"prompt": turn.prompt_tokens, "completion": turn.completion_tokens},
            "created_at": now,
        },
    ]
    await asyncio.gather(
        db.conversations.update_one(
            {"_id": turn.conversation_id, "user_id": turn.user_id}, update, upsert=turn.is_new
        ),
        db.messages.insert_many(messages, ordered=True),
    )


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
    return await cursor.to_list(length=limit)
