"""Idempotent retries of the POST chat routes: the first answer to an `Idempotency-Key`, replayed.

A request with a key claims it in MongoDB (store/idempotency.py: one conditional insert, so one
request wins whatever environments its retries reach). The claim holds the request's
fingerprint (route and body); when the answer is ready it is kept in the record for
IDEMPOTENCY_TTL_S. A retry with the same key and body gets that answer, without a model call or
a usage record; one that arrives while the first is running waits for its answer (and is a 409
with Retry-After only if the first outlasts its own deadline); a different body is a 422. A
failed request releases its key, so a retry runs again; a claim whose environment died lapses
after the request timeout. Keys are per caller. Streams are kept once they end with their final
event and replayed whole. A key is never ignored: when MongoDB cannot honour it, the answer is a
503 with Retry-After.
"""

import asyncio
import hashlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Annotated, Any

import anyio
from fastapi import Header
from fastapi.encoders import jsonable_encoder
from pydantic import BaseModel, TypeAdapter

from aether.core import Invocation, Principal
from aether.errors import Conflict, ServiceUnavailable, Unprocessable
from aether.settings import get_settings
from aether.store import idempotency as records
from aether.store.writes import mongo_errors
from aether.telemetry import logger

__all__ = ["IdempotencyKey", "once", "once_stream"]

IdempotencyKey = Annotated[str | None, Header(alias="Idempotency-Key", min_length=1, max_length=255)]

POLL_S = 0.05  # how often a retry looks whether the first request has answered


class _Record:
    def __init__(self, principal: Principal, key: str, route: str, body: BaseModel) -> None:
        user = hashlib.sha256(principal.user_id.encode()).hexdigest()[:32]
        self.id = f"{user}:{hashlib.sha256(key.encode()).hexdigest()}"
        self.fingerprint = hashlib.sha256(f"{route}\n{body.model_dump_json()}".encode()).hexdigest()

    async def claim(self, invocation: Invocation) -> dict[str, Any] | None:
        """None when this request runs; else the earlier request's record, once it has answered."""
        settings = get_settings()
        lease_s = settings.request_timeout_ms / 1000 + 5
        try:
            while not await records.claim(self.id, self.fingerprint, lease_s, settings.idempotency_ttl_s):
                found = await records.find(self.id)
                if found is None:  # released or expired meanwhile: claim it again
                    if await records.take_over(self.id, lease_s):
                        return None
                    continue
                if found["fingerprint"] != self.fingerprint:
                    raise Unprocessable(
                        "this Idempotency-Key was used for a different request; use a new key"
                    )
                if found["state"] == "done":
                    return found
                if await records.take_over(self.id, lease_s):  # its environment died
                    return None
                if invocation.remaining_s() <= POLL_S:
                    raise Conflict(
                        "a request with this Idempotency-Key is still being answered", retry_after_s=1
                    )
                await asyncio.sleep(POLL_S)
        except mongo_errors() as exc:
            raise ServiceUnavailable(
                "the Idempotency-Key cannot be honoured right now; retry shortly", retry_after_s=5
            ) from exc
        return None

    async def keep(self, **result: Any) -> None:
        try:
            await records.keep(self.id, get_settings().idempotency_ttl_s, **result)
        except mongo_errors():  # the answer goes out; a retry runs again once the claim lapses
            logger.exception("idempotent answer not kept")

    async def release(self) -> None:
        try:
            await records.release(self.id)
        except mongo_errors():  # the claim lapses on its own
            logger.exception("idempotency claim not released")


async def once[T](
    principal: Principal,
    invocation: Invocation,
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
    earlier = await record.claim(invocation)
    if earlier is not None:
        return TypeAdapter(answer_type).validate_python(earlier["answer"])
    try:
        answer = await produce()
    except BaseException:
        with anyio.CancelScope(shield=True):
            await record.release()
        raise
    await record.keep(answer=jsonable_encoder(answer))
    return answer


async def once_stream(
    principal: Principal,
    invocation: Invocation,
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
    earlier = await record.claim(invocation)
    if earlier is not None:
        kept: str = earlier["stream"]

        async def replay() -> AsyncIterator[bytes]:
            yield kept.encode()

        return replay()
    try:
        events = await produce()
    except BaseException:
        with anyio.CancelScope(shield=True):
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
