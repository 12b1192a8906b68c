"""Dev JWTs (HS256) that only the local runner signs and honours; deployed functions never see them.

On AWS, API Gateway's JWT authorizer validates the token and hands the claims to the function;
locally the runner plays that part with a key it makes at start.
"""

import base64
import hashlib
import hmac
import json
import secrets
import time
from typing import Any

__all__ = ["DevAuth"]


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class DevAuth:
    def __init__(self, key: bytes | None = None) -> None:
        self._key = key or secrets.token_bytes(32)

    def sign(self, sub: str, groups: list[str] | None = None, ttl_s: int = 12 * 3600) -> str:
        now = int(time.time())
        claims: dict[str, Any] = {"sub": sub, "iss": "aether-local", "iat": now, "exp": now + ttl_s}
        if groups:
            claims["cognito:groups"] = groups
        header = _b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
        payload = _b64(json.dumps(claims).encode())
        signature = hmac.new(self._key, f"{header}.{payload}".encode(), hashlib.sha256).digest()
        return f"{header}.{payload}.{_b64(signature)}"

    def verify(self, authorization: str | None) -> dict[str, Any] | None:
        """Claims of a valid `Bearer` token, in API Gateway's form (arrays flattened), else None."""
        if not authorization or not authorization.startswith("Bearer "):
            return None
        try:
            header, payload, signature = authorization[7:].strip().split(".")
            expected = hmac.new(self._key, f"{header}.{payload}".encode(), hashlib.sha256).digest()
            if not hmac.compare_digest(expected, _unb64(signature)):
                return None
            claims = json.loads(_unb64(payload))
        except ValueError:
            return None
        if claims.get("exp", 0) < time.time():
            return None
        return {k: f"[{' '.join(v)}]" if isinstance(v, list) else str(v) for k, v in claims.items()}
