"""Usage records MongoDB could not take, kept in a Redis list until it takes them again.

A record goes in as relaxed extended JSON with its own `_id`, so inserting it twice is harmless.
A drain reads a batch from the head of the list without removing it, inserts it (`ordered=False`;
a duplicate key means it is already stored) and only then removes exactly those values (`LREM`).
Two environments draining at once may insert the same record; the collection holds it once,
and a record leaves the list only after it is in MongoDB, so a crash in between costs nothing.

When: an environment drains on its next usage write after it pushed to the outbox itself, and
otherwise looks at most every `USAGE_OUTBOX_CHECK_MS`, beside that write (the same stage). Other
requests pay no Redis round trip for it.
"""

import time
from typing import TYPE_CHECKING, Any, cast

from bson import json_util

from aether import clients
from aether.cache import get_cache
from aether.settings import get_settings
from aether.store.writes import already_stored, bounded, mongo_errors
from aether.telemetry import count, usage_changed

if TYPE_CHECKING:
    from redis.asyncio import Redis

__all__ = ["OUTBOX_KEY", "Outbox", "dumps", "get_outbox"]

OUTBOX_KEY = "aether:outbox:usage"


def dumps(document: dict[str, Any]) -> str:
    """A usage document as relaxed extended JSON: readable, and `json_util.loads` gives it back."""
    return json_util.dumps(document, json_options=json_util.RELAXED_JSON_OPTIONS)


async def insert_usage(documents: list[dict[str, Any]]) -> None:
    """Insert usage documents by their own `_id`; those already stored are not an error."""
    try:
        with bounded():
            await clients.mongo_db().usage.insert_many(documents, ordered=False)
    except mongo_errors() as exc:
        if not already_stored(exc):
            raise


class Outbox:
    """One execution environment's view of the outbox: when it looks next, whether it pushed."""

    def __init__(self) -> None:
        self._next_look = 0.0  # monotonic time of the next look; 0: the first write looks
        self._pushed = False  # this environment put records in the outbox that it has not seen drained

    async def push(self, documents: list[dict[str, Any]]) -> bool:
        """Append documents to the outbox (one RPUSH); False when Redis is unavailable."""
        values = [dumps(d) for d in documents]

        async def run(client: "Redis") -> int:
            return await client.rpush(OUTBOX_KEY, *values)

        if await get_cache().l3.call(run) is None:
            return False
        self._pushed = True
        count("UsageOutboxed", len(documents))
        return True

    async def drain_if_due(self) -> int:
        """Move one batch from the outbox into MongoDB if due; how many records were drained."""
        now = time.monotonic()
        if not self._pushed and now < self._next_look:
            return 0
        self._next_look = now + get_settings().usage_outbox_check_ms / 1000
        return await self.drain()

    async def drain(self) -> int:
        """Insert up to USAGE_OUTBOX_BATCH records from the head of the outbox, then remove them."""
        l3 = get_cache().l3
        batch = get_settings().usage_outbox_batch

        async def read(client: "Redis") -> list[bytes]:
            # the client returns bytes (decode_responses is off); redis-py's types allow str too
            return cast("list[bytes]", await client.lrange(OUTBOX_KEY, 0, batch - 1))

        values = await l3.call(read)
        if not values:
            if values is not None:
                self._pushed = False
            return 0
        documents = [json_util.loads(v) for v in values]
        try:
            await insert_usage(documents)
        except mongo_errors():
            return 0  # still in the outbox: the next look tries again

        async def remove(client: "Redis") -> None:
            pipe = client.pipeline(transaction=False)
            for value in values:
                pipe.lrem(OUTBOX_KEY, 1, value)  # type: ignore[arg-type]  # bytes are accepted; the stub says str
            await pipe.execute()

        await l3.call(remove)  # if this fails they are inserted again later, as duplicates: harmless
        if len(values) < batch:
            self._pushed = False
        count("UsageDrained", len(documents))
        for user_id in {d["user_id"] for d in documents}:
            usage_changed(user_id)
        return len(documents)


_outbox: Outbox | None = None


def get_outbox() -> Outbox:
    """The execution environment's outbox state, created on first use."""
    global _outbox
    if _outbox is None:
        _outbox = Outbox()
    return _outbox
