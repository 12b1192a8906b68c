"""The caller's conversations: a list paged by an opaque cursor, and a text search over messages."""

import base64
import re
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from bson import ObjectId
from bson.errors import InvalidId
from pydantic import AfterValidator, BaseModel, StringConstraints

from aether.core import Principal
from aether.errors import BadRequest
from aether.store import conversations

__all__ = ["ConversationPage", "SearchResults", "SearchText", "list_page", "search"]

SNIPPET_CHARS = 200
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MS = timedelta(milliseconds=1)


def _searchable(value: str) -> str:
    """Text a search can run on: at least one word that is not excluded (`-word`, `-"phrase"`)."""
    kept = re.sub(r'(^|\s)-("[^"]*"?|\S*)', " ", value)
    if not re.search(r"\w", kept):
        raise ValueError("must contain a word to search for (not only excluded ones, like -word)")
    return value


SearchText = Annotated[str, StringConstraints(min_length=1, max_length=200), AfterValidator(_searchable)]


class ConversationSummary(BaseModel):
    conversation_id: str
    title: str
    agent: str
    created_at: datetime
    updated_at: datetime
    message_count: int


class ConversationPage(BaseModel):
    conversations: list[ConversationSummary]
    next_cursor: str | None  # pass it as `cursor` for the next page; null on the last page


class SearchHit(BaseModel):
    message_id: str
    conversation_id: str
    role: str
    snippet: str
    created_at: datetime
    score: float


class SearchResults(BaseModel):
    query: str
    results: list[SearchHit]


def _utc(value: datetime) -> datetime:
    """MongoDB dates come back naive (in UTC) from a client that is not tz_aware."""
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _encode_cursor(position: conversations.Position) -> str:
    """An opaque cursor: the position's milliseconds (MongoDB's date precision) and id, base64url."""
    millis = (_utc(position.updated_at) - _EPOCH) // _MS
    token = base64.urlsafe_b64encode(f"{millis}:{position.conversation_id}".encode())
    return token.decode().rstrip("=")


def _decode_cursor(cursor: str) -> conversations.Position:
    try:
        token = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        millis, conversation_id = token.decode().split(":")
        return conversations.Position(_EPOCH + int(millis) * _MS, ObjectId(conversation_id))
    except (ValueError, InvalidId, OverflowError) as error:  # binascii and Unicode errors are ValueErrors
        raise BadRequest("cursor is not valid: pass the next_cursor of the previous page as is") from error


async def list_page(principal: Principal, limit: int, cursor: str | None) -> ConversationPage:
    """One page of the caller's conversations, newest first; one round trip (limit + 1 tells if more)."""
    after = _decode_cursor(cursor) if cursor is not None else None
    docs = await conversations.list_recent(principal.user_id, limit + 1, after)
    page = docs[:limit]
    next_cursor = None
    if len(docs) > limit:
        next_cursor = _encode_cursor(conversations.Position(page[-1]["updated_at"], page[-1]["_id"]))
    return ConversationPage(conversations=[_summary(doc) for doc in page], next_cursor=next_cursor)


async def search(principal: Principal, query: str, limit: int) -> SearchResults:
    """The caller's messages that match `query`, best match first, each with a snippet around it."""
    docs = await conversations.search_messages(principal.user_id, query, limit)
    terms = _terms(query)
    return SearchResults(
        query=query,
        results=[
            SearchHit(
                message_id=str(doc["_id"]),
                conversation_id=str(doc["conversation_id"]),
                role=doc["role"],
                snippet=_snippet(doc["content"], terms),
                created_at=_utc(doc["created_at"]),
                score=doc["score"],
            )
            for doc in docs
        ],
    )


def _summary(doc: dict[str, Any]) -> ConversationSummary:
    return ConversationSummary(
        conversation_id=str(doc["_id"]),
        title=doc["title"],
        agent=doc["agent"],
        created_at=_utc(doc["created_at"]),
        updated_at=_utc(doc["updated_at"]),
        message_count=doc["message_count"],
    )


def _terms(query: str) -> list[str]:
    """The words a query asks for (not those it excludes with a leading '-'), lower case."""
    return re.findall(r"(?<![\w-])\w+", query.lower())


def _snippet(content: str, terms: list[str]) -> str:
    """About SNIPPET_CHARS of `content`, starting a little before the first word of the query found.

    MongoDB matches stemmed words, so a message can match without containing a term as typed;
    the snippet then starts at the beginning.
    """
    lowered = content.lower()
    found = [at for term in terms if (at := lowered.find(term)) >= 0]
    start = max(0, min(found, default=0) - SNIPPET_CHARS // 4)
    end = start + SNIPPET_CHARS
    return ("…" if start else "") + content[start:end] + ("…" if end < len(content) else "")
