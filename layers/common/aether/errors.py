"""Domain errors. The HTTP layer maps each to its status code in one place (aether.http.errors)."""

__all__ = [
    "AetherError",
    "BadRequest",
    "Conflict",
    "Forbidden",
    "NotFound",
    "PayloadTooLarge",
    "ServiceUnavailable",
    "TooManyRequests",
    "Unauthorized",
    "Unprocessable",
    "UpstreamError",
    "UpstreamTimeout",
]


class AetherError(Exception):
    """An error whose message is safe to show to the caller."""

    status = 500
    code = "internal_error"

    def __init__(self, message: str, retry_after_s: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.retry_after_s = retry_after_s  # sent as Retry-After when set


class BadRequest(AetherError):
    status, code = 400, "bad_request"


class Unauthorized(AetherError):
    status, code = 401, "unauthorized"


class Forbidden(AetherError):
    status, code = 403, "forbidden"


class NotFound(AetherError):
    status, code = 404, "not_found"


class Conflict(AetherError):
    status, code = 409, "conflict"


class PayloadTooLarge(AetherError):
    status, code = 413, "payload_too_large"


class Unprocessable(AetherError):
    status, code = 422, "invalid_input"


class TooManyRequests(AetherError):
    status, code = 429, "rate_limited"


class ServiceUnavailable(AetherError):
    status, code = 503, "unavailable"


class UpstreamError(AetherError):
    status, code = 502, "model_provider_error"

    def __init__(self, message: str, model: str | None = None) -> None:
        super().__init__(message)
        self.model = model  # the model whose answer broke off after it started, if one did


class UpstreamTimeout(AetherError):
    status, code = 504, "deadline_exceeded"

    def __init__(self, message: str, model: str | None = None) -> None:
        super().__init__(message)
        self.model = model  # the model the call had reached when the deadline cut it, if any
