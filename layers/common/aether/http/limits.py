"""Request size limit, enforced before the body reaches a route."""

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from aether.http.errors import error_response
from aether.settings import get_settings

__all__ = ["BodyLimit"]


class BodyLimit:
    """Answers 413 when the request body exceeds MAX_BODY_BYTES.

    Lambda hands over the whole body at once, so reading it here costs nothing extra.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = get_settings().max_body_bytes
        chunks: list[bytes] = []
        size = 0
        more = True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                break
            chunks.append(message.get("body", b""))
            size += len(chunks[-1])
            more = message.get("more_body", False)
            if size > limit:
                response = error_response(
                    scope, 413, "payload_too_large", f"request body is larger than {limit} bytes"
                )
                await response(scope, receive, send)
                return
        body = b"".join(chunks)
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)
