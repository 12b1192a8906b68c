"""Conversations and their messages (a separate collection, never an unbounded array)."""

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime

from bson import ObjectId

from aether import clients
from aether.errors import NotFound

__all__ = ["Turn", "load_history", "save_turn"]

# Index the history query needs (applied by the index command, not at cold start).
MESSAGES_HISTORY_INDEX = [("conversation_id", 1), ("user_id", 1), ("created_at", -1)]


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
