"""Idempotent retries of the POST chat routes: the first answer to an `Idempotency-Key`, replayed.

A request with a key claims it in Redis (one Lua round trip: SET NX, or read what is there). The
claim holds the request's fingerprint (route and body); when the answer is ready it replaces the
claim, kept IDEMPOTENCY_TTL_S. A retry with the same key and body gets that answer without a
model call or a usage record; a different body is a 422; a retry while the first is still
running is a 409 with Retry-After. A failed request releases its key, so a retry runs again.
Keys are per caller: the same key from two users names two records. Streams are kept once they
end with their final event and replayed whole. Without Redis keys are not honoured (the request
runs; RedisIncidents counts the outage).
"""

import hashlib
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from functools import cache
from typing import Annotated, Any

import anyio
from fastapi import Header
from fastapi.encoders import jsonable_encoder
from pydantic import BaseModel, TypeAdapter

from aether import clients
from aether.cache.redis_tier import RedisTier
from aether.core import Principal
from aether.errors import Conflict, Unprocessable
from aether.settings import get_settings

__all__ = ["IdempotencyKey", "once", "once_stream"]

IdempotencyKey = Annotated[str | None, Header(alias="Idempotency-Key", min_length=1, max_length=255)]

# KEYS: the record. ARGV: the claim, its lifetime in seconds. Nil when claimed, else the record.
_CLAIM = """
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'EX', ARGV[2]) then return false end
return redis.call('GET', KEYS[1])
"""


@cache
def _redis() -> RedisTier:
    return RedisTier(clients.redis, get_settings().redis_retry_after_s)


class _Record:
    def __init__(self, principal: Principal, key: str, route: str, body: BaseModel) -> None:
        digest = hashlib.sha256(key.encode()).hexdigest()
        user = hashlib.sha256(principal.user_id.encode()).hexdigest()[:16]
        self.redis_key = f"aether:idem:{{{user}}}:{digest}"
        self.fingerprint = hashlib.sha256(f"{route}\n{body.model_dump_json()}".encode()).hexdigest()

    async def claim(self) -> dict[str, Any] | None:
        """The stored record of an earlier request with this key; None when this request runs."""
        claim = json.dumps({"fingerprint": self.fingerprint})
        pending_s = get_settings().request_timeout_ms // 1000 + 5
        found = await _redis().call(lambda redis: redis.eval(_CLAIM, 1, self.redis_key, claim, pending_s))
        if found is None:
            return None
        record: dict[str, Any] = json.loads(found)
        if record["fingerprint"] != self.fingerprint:
            raise Unprocessable("this Idempotency-Key was used for a different request; use a new key")
        if "answer" not in record and "stream" not in record:
            raise Conflict("a request with this Idempotency-Key is still being answered", retry_after_s=1)
        return record

    async def keep(self, **result: Any) -> None:
        record = json.dumps({"fingerprint": self.fingerprint, **result})
        ttl_s = get_settings().idempotency_ttl_s
        await _redis().call(lambda redis: redis.set(self.redis_key, record, ex=ttl_s))

    async def release(self) -> None:
        await _redis().call(lambda redis: redis.delete(self.redis_key))


async def once[T](
    principal: Principal,
    key: str | None,
    route: str,
    body: BaseModel,
    produce: Callable[[], Awaitable[T]],
    answer_type: type[T],
) -> T:
    """`produce()`'s answer, or the answer kept for an earlier request with this key (read back
    as `answer_type`)."""
    if key is None:
        return await produce()
    record = _Record(principal, key, route, body)
    earlier = await record.claim()
    if earlier is not None:
        return TypeAdapter(answer_type).validate_python(earlier["answer"])
    try:
        answer = await produce()
    except BaseException:
        await record.release()
        raise
    await record.keep(answer=jsonable_encoder(answer))
    return answer


async def once_stream(
    principal: Principal,
    key: str | None,
    route: str,
    body: BaseModel,
    produce: Callable[[], Awaitable[AsyncIterator[bytes]]],
    final: bytes,
) -> AsyncIterator[bytes]:
    """`produce()`'s events, kept when the last starts with `final`; or the kept ones, whole."""
    if key is None:
        return await produce()
    record = _Record(principal, key, route, body)
    earlier = await record.claim()
    if earlier is not None:

        async def replay() -> AsyncIterator[bytes]:
            yield earlier["stream"].encode()

        return replay()
    try:
        events = await produce()
    except BaseException:
        await record.release()
        raise

    async def relay() -> AsyncIterator[bytes]:
        sent: list[bytes] = []
        try:
            async for chunk in events:
                sent.append(chunk)
                yield chunk
        finally:
            with anyio.CancelScope(shield=True):  # a client gone under uvicorn cancels the stream
                if sent and sent[-1].startswith(final):
                    await record.keep(stream=b"".join(sent).decode())
                else:  # broken off, failed or left by the client: a retry runs again
                    await record.release()

    return relay()
