"""Idempotency records in MongoDB: the durable claim of a key, and the answer kept for it.

A record's `_id` is the caller and the key (digests), so claiming is one conditional insert: the
first request in any environment wins, and every other finds its record. `lease_until` bounds a
claim whose environment died; `expires_at` ends the record (a TTL index removes it; reads treat
an expired record as absent meanwhile).
"""

from datetime import UTC, datetime, timedelta
from typing import Any

from aether import clients
from aether.store.writes import already_stored, bounded, mongo_errors

__all__ = ["IDEMPOTENCY_EXPIRY_INDEX", "claim", "find", "keep", "release", "take_over"]

IDEMPOTENCY_EXPIRY_INDEX = [("expires_at", 1)]  # a TTL index (expireAfterSeconds 0)


async def claim(record_id: str, fingerprint: str, lease_s: float, ttl_s: int) -> bool:
    """True when this request claimed the key; False when a record exists."""
    now = datetime.now(UTC)
    document = {
        "_id": record_id,
        "fingerprint": fingerprint,
        "state": "running",
        "lease_until": now + timedelta(seconds=lease_s),
        "expires_at": now + timedelta(seconds=ttl_s),
    }
    try:
        with bounded():
            await clients.mongo_db().idempotency.insert_one(document)
    except mongo_errors() as exc:
        if already_stored(exc):
            return False
        raise
    return True


async def find(record_id: str) -> dict[str, Any] | None:
    with bounded():
        found: dict[str, Any] | None = await clients.mongo_db().idempotency.find_one({"_id": record_id})
    if found is not None and found["expires_at"].replace(tzinfo=UTC) <= datetime.now(UTC):
        return None
    return found


async def take_over(record_id: str, lease_s: float) -> bool:
    """Claim a record whose lease ran out (its environment died) or that expired; True if taken."""
    now = datetime.now(UTC)
    lapsed = {
        "_id": record_id,
        "$or": [{"state": "running", "lease_until": {"$lt": now}}, {"expires_at": {"$lt": now}}],
    }
    with bounded():
        result = await clients.mongo_db().idempotency.update_one(
            lapsed, {"$set": {"state": "running", "lease_until": now + timedelta(seconds=lease_s)}}
        )
    return result.modified_count == 1


async def keep(record_id: str, ttl_s: int, **result: Any) -> None:
    """The answer, kept for the key's later requests."""
    expires_at = datetime.now(UTC) + timedelta(seconds=ttl_s)
    with bounded():
        await clients.mongo_db().idempotency.update_one(
            {"_id": record_id}, {"$set": {"state": "done", "expires_at": expires_at, **result}}
        )


async def release(record_id: str) -> None:
    """Forget a claim whose request failed, so a retry runs again."""
    with bounded():
        await clients.mongo_db().idempotency.delete_one({"_id": record_id, "state": "running"})
