"""Every MongoDB index Aether needs, and the command-side code that creates them.

The keys are declared next to the queries that use them (store/conversations.py, store/usage.py);
this module adds the collection and the name. `apply_indexes` runs from
`aether-local indexes` once per deployment, never at a cold start.

No TTL index on `usage`: its records are the per-user cost history that analytics and the
dashboard report on, so how long to keep them is a retention decision, not a default. When one is
made, a single-field TTL index on `ts` (`expireAfterSeconds`) is the way to enforce it.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from aether.store.conversations import (
    CONVERSATIONS_RECENT_INDEX,
    MESSAGES_HISTORY_INDEX,
    MESSAGES_TEXT_INDEX,
)
from aether.store.idempotency import IDEMPOTENCY_EXPIRY_INDEX
from aether.store.usage import USAGE_BY_TIME_INDEX, USAGE_BY_USER_INDEX

if TYPE_CHECKING:
    from pymongo.asynchronous.database import AsyncDatabase

    from aether.clients import Document

__all__ = ["INDEXES", "IndexSpec", "apply_indexes"]


@dataclass(frozen=True, slots=True)
class IndexSpec:
    collection: str
    name: str
    keys: Sequence[tuple[str, int | str]]
    expire_after_s: int | None = None  # a TTL index: documents go this long after the key's date


INDEXES: tuple[IndexSpec, ...] = (
    IndexSpec("conversations", "conversations_user_recent", CONVERSATIONS_RECENT_INDEX),
    IndexSpec("messages", "messages_history", MESSAGES_HISTORY_INDEX),
    IndexSpec("messages", "messages_user_text", MESSAGES_TEXT_INDEX),
    IndexSpec("usage", "usage_user_ts", USAGE_BY_USER_INDEX),
    IndexSpec("usage", "usage_ts", USAGE_BY_TIME_INDEX),
    IndexSpec("idempotency", "idempotency_expiry", IDEMPOTENCY_EXPIRY_INDEX, expire_after_s=0),
)


async def apply_indexes(db: "AsyncDatabase[Document]") -> list[tuple[IndexSpec, bool]]:
    """Create every index of INDEXES that `db` lacks; return each spec and whether it was created.

    Idempotent: an index that exists with the same name and keys is left as it is. One that exists
    with other keys or options makes MongoDB refuse (IndexKeySpecsConflict or IndexOptionsConflict):
    drop the old index first, since rebuilding one is a decision for whoever runs the command.
    """
    from pymongo import IndexModel

    applied: list[tuple[IndexSpec, bool]] = []
    for collection in dict.fromkeys(spec.collection for spec in INDEXES):
        specs = [spec for spec in INDEXES if spec.collection == collection]
        existing = {index["name"] async for index in await db[collection].list_indexes()}
        models = [
            IndexModel(spec.keys, name=spec.name)
            if spec.expire_after_s is None
            else IndexModel(spec.keys, name=spec.name, expireAfterSeconds=spec.expire_after_s)
            for spec in specs
        ]
        await db[collection].create_indexes(models)
        applied += [(spec, spec.name not in existing) for spec in specs]
    return applied
