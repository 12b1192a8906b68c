"""Request body checks, enforced before the body reaches a route: size, content type, JSON."""

import json
from typing import Any

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from aether.http.errors import error_response
from aether.settings import get_settings

__all__ = ["BodyLimit", "json_depth"]


def json_depth(value: Any) -> int:
    """How deeply arrays and objects nest in a decoded JSON value (a scalar is 0)."""
    deepest = 0
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            item = list(item.values())
        elif not isinstance(item, list):
            continue
        deepest = max(deepest, depth)
        stack.extend((child, depth + 1) for child in item)
    return deepest


def _is_json(content_type: str) -> bool:
    media_type = content_type.split(";", 1)[0].strip().lower()
    return media_type == "application/json" or (
        media_type.startswith("application/") and media_type.endswith("+json")
    )


def _body_problem(headers: Headers, body: bytes) -> tuple[int, str, str] | None:
    """Why a non-empty body is refused (status, code, message), or None."""
    content_type = headers.get("content-type", "")
    if not _is_json(content_type):
        given = content_type.split(";", 1)[0].strip() or "none"
        return 415, "unsupported_media_type", f"content-type must be application/json (got {given})"
    limit = get_settings().max_json_depth
    try:
        value = json.loads(body)
    except RecursionError:
        return 400, "invalid_json", f"request body nests JSON deeper than {limit} levels"
    except json.JSONDecodeError as exc:
        return 400, "invalid_json", f"request body is not valid JSON: {exc.msg} at character {exc.pos}"
    except UnicodeDecodeError:
        return 400, "invalid_json", "request body is not valid JSON: it is not UTF-8 text"
    except ValueError as exc:  # e.g. an integer past Python's 4,300-digit conversion limit
        return 400, "invalid_json", f"request body is not valid JSON: {exc}"
    if json_depth(value) > limit:
        return 400, "invalid_json", f"request body nests JSON deeper than {limit} levels"
    if b"\\u" in body and _lone_surrogate(value):
        return (
            400,
            "invalid_json",
            "request body holds a lone surrogate (such as \\ud800): it is not Unicode text",
        )
    return None


def _lone_surrogate(value: object) -> bool:
    """True when a string of the parsed body holds half a UTF-16 pair, which no UTF-8 text can."""
    try:
        json.dumps(value, ensure_ascii=False).encode()
    except UnicodeEncodeError:
        return True
    return False


class BodyLimit:
    """Answers 413 when the body exceeds MAX_BODY_BYTES, 415 when a body is not declared as
    application/json, and 400 when it is not valid JSON, nests deeper than MAX_JSON_DEPTH or holds
    a lone surrogate (JSON allows "\\ud800"; no text encoding does, and every store would fail).

    Lambda hands over the whole body at once, so reading it here costs nothing extra; parsing it
    once more than the route does costs microseconds at these sizes.
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
        problem = _body_problem(Headers(scope=scope), body) if body else None
        if problem is not None:
            await error_response(scope, *problem)(scope, receive, send)
            return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)
