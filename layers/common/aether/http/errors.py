"""One error shape for every 4xx and 5xx: {"error": {"code", "message", "request_id"}}; on the
OpenAI-compatible routes, OpenAI's (aether.errors.openai_error)."""

from collections.abc import MutableMapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from aether.errors import AetherError, openai_error
from aether.http.context import request_id_of
from aether.telemetry import logger

__all__ = ["error_response", "install_error_handlers"]

_HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "invalid_input",
    429: "rate_limited",
}


def _openai(scope: MutableMapping[str, Any]) -> bool:
    return str(scope.get("path", "")).startswith("/v1/")


def error_response(
    scope: MutableMapping[str, Any], status: int, code: str, message: str, param: str | None = None
) -> JSONResponse:
    """Aether's error body, or OpenAI's on the OpenAI-compatible routes (/v1/...)."""
    if _openai(scope):
        body = openai_error(status, code, message, param)
    else:
        body = {"error": {"code": code, "message": message, "request_id": request_id_of(scope)}}
    return JSONResponse(body, status_code=status)


def _field(loc: tuple[Any, ...]) -> str:
    """A field's path as OpenAI names it: messages[0].content."""
    path = ""
    for part in loc:
        if part == "body":
            continue
        path += f"[{part}]" if isinstance(part, int) else f".{part}" if path else str(part)
    return path


def _describe(errors: list[dict[str, Any]]) -> str:
    parts = []
    for error in errors[:5]:
        loc = _field(tuple(error.get("loc", ())))
        message = str(error.get("msg", "invalid")).removeprefix("Value error, ")
        if not loc and error.get("type") in {"model_attributes_type", "dict_type"}:
            message = "request body must be a JSON object (content-type: application/json)"
        elif not loc and error.get("type") == "missing":
            message = "request body is required: a JSON object (content-type: application/json)"
        elif error.get("type") == "extra_forbidden":
            message = "unrecognized argument: this route does not take it"
        parts.append(f"{loc}: {message}" if loc else message)
    return "; ".join(parts)


async def _aether_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, AetherError)
    if exc.status >= 500:
        cause = exc.__cause__  # its class only: a driver's message may name hosts or users
        extra = {"code": exc.code, "status": exc.status}
        if cause is not None:
            extra["cause"] = f"{type(cause).__module__}.{type(cause).__qualname__}"
        logger.warning("request failed", extra=extra)
    response = error_response(request.scope, exc.status, exc.code, exc.message, exc.param)
    if exc.retry_after_s is not None:
        response.headers["retry-after"] = str(exc.retry_after_s)
    return response


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = list(exc.errors())
    if any(error.get("type") == "json_invalid" for error in errors):
        return error_response(request.scope, 400, "invalid_json", "request body is not valid JSON")
    if _openai(request.scope):  # OpenAI answers bad input with a 400 naming the field
        param = _field(tuple(errors[0].get("loc", ()))) or None
        return error_response(request.scope, 400, "invalid_request_error", _describe(errors), param)
    return error_response(request.scope, 422, "invalid_input", _describe(errors))


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HTTPException)
    code = _HTTP_CODES.get(exc.status_code, "error")
    message = exc.detail if isinstance(exc.detail, str) else "request failed"
    if exc.status_code == 404 and message == "Not Found":
        message = f"no route for {request.method} {request.url.path}"
    return error_response(request.scope, exc.status_code, code, message)


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    logger.exception("unhandled error")
    return error_response(request.scope, 500, "internal_error", "internal error; quote the request_id")


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(AetherError, _aether_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected)
