"""Domain errors. The HTTP layer maps each to its status code in one place (aether.http.errors);
`openai_error` gives the body OpenAI's API would for the same failure (the /v1 routes)."""

from typing import Any

__all__ = [
    "AetherError",
    "BadRequest",
    "BudgetExceeded",
    "Conflict",
    "Forbidden",
    "ModelNotFound",
    "ModelRefused",
    "NotFound",
    "PayloadTooLarge",
    "ServiceUnavailable",
    "TooManyRequests",
    "Unauthorized",
    "Unprocessable",
    "UpstreamError",
    "UpstreamTimeout",
    "openai_error",
]


class AetherError(Exception):
    """An error whose message is safe to show to the caller."""

    status = 500
    code = "internal_error"

    def __init__(self, message: str, retry_after_s: int | None = None, param: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.retry_after_s = retry_after_s  # sent as Retry-After when set
        self.param = param  # the request field at fault, when one is


class BadRequest(AetherError):
    status, code = 400, "bad_request"


class Unauthorized(AetherError):
    status, code = 401, "unauthorized"


class Forbidden(AetherError):
    status, code = 403, "forbidden"


class NotFound(AetherError):
    status, code = 404, "not_found"


class ModelNotFound(NotFound):
    code = "model_not_found"


class Conflict(AetherError):
    status, code = 409, "conflict"


class PayloadTooLarge(AetherError):
    status, code = 413, "payload_too_large"


class Unprocessable(AetherError):
    status, code = 422, "invalid_input"


class TooManyRequests(AetherError):
    status, code = 429, "rate_limited"


class BudgetExceeded(TooManyRequests):
    code = "budget_exceeded"


class ServiceUnavailable(AetherError):
    status, code = 503, "unavailable"


class UpstreamError(AetherError):
    status, code = 502, "model_provider_error"

    def __init__(self, message: str, model: str | None = None, param: str | None = None) -> None:
        super().__init__(message, param=param)
        self.model = model  # the model whose answer broke off after it started, if one did


class ModelRefused(UpstreamError):
    """The provider found the request invalid (its 400 or 422): the caller's parameters (a tool
    choice, a schema, a stop list), so a 400 with the provider's words, not a 502."""

    status, code = 400, "model_refused"


class UpstreamTimeout(AetherError):
    status, code = 504, "deadline_exceeded"

    def __init__(self, message: str, model: str | None = None) -> None:
        super().__init__(message)
        self.model = model  # the model the call had reached when the deadline cut it, if any


_OPENAI_TYPES = {401: "authentication_error", 403: "permission_error"}
_OPENAI_CODES: dict[str, tuple[str, str | None]] = {  # Aether's code -> OpenAI's type and code
    "invalid_request_error": ("invalid_request_error", None),
    "rate_limited": ("requests", "rate_limit_exceeded"),
    "budget_exceeded": ("insufficient_quota", "insufficient_quota"),
    "unauthorized": ("authentication_error", "invalid_api_key"),
    "model_not_found": ("invalid_request_error", "model_not_found"),
    "model_refused": ("invalid_request_error", None),
}


def openai_error(status: int, code: str, message: str, param: str | None = None) -> dict[str, Any]:
    """OpenAI's error body: {"error": {"message", "type", "param", "code"}}, with OpenAI's values
    (invalid_request_error and the field at fault for bad input, model_not_found,
    rate_limit_exceeded, insufficient_quota for a spent budget, server_error)."""
    kind = _OPENAI_TYPES.get(status, "server_error" if status >= 500 else "invalid_request_error")
    kind, given = _OPENAI_CODES.get(code, (kind, code))
    return {"error": {"message": message, "type": kind, "param": param, "code": given}}
