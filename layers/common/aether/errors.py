"""Domain errors. The HTTP layer maps each to its status code in one place (aether.http.errors)."""

__all__ = [
    "AetherError",
    "BadRequest",
    "Forbidden",
    "NotFound",
    "PayloadTooLarge",
    "Unauthorized",
    "UpstreamError",
    "UpstreamTimeout",
]


class AetherError(Exception):
    """An error whose message is safe to show to the caller."""

    status = 500
    code = "internal_error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class BadRequest(AetherError):
    status, code = 400, "bad_request"


class Unauthorized(AetherError):
    status, code = 401, "unauthorized"


class Forbidden(AetherError):
    status, code = 403, "forbidden"


class NotFound(AetherError):
    status, code = 404, "not_found"


class PayloadTooLarge(AetherError):
    status, code = 413, "payload_too_large"


class UpstreamError(AetherError):
    status, code = 502, "model_provider_error"


class UpstreamTimeout(AetherError):
    status, code = 504, "deadline_exceeded"
