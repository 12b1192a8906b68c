"""Bearer tokens checked by the HTTP API's JWT authorizer's rules, where that authorizer is absent.

Two callers: the stream API's Lambda authorizer (functions/authorizer: REST APIs have no JWT
authorizer), and the chat app under the Lambda Web Adapter behind it, which checks the token
again as a second lock (API Gateway keeps an authorizer's answer per token for minutes; the
function refuses a token the moment it expires). The checks are the JWT authorizer's: an RS256
signature by a key of the issuer's JWKS, `exp`/`nbf`, `iss`, and `aud` or `client_id` among the
configured audiences (Cognito access tokens carry `client_id`, ID tokens `aud`). The key set is
fetched once per execution environment and re-fetched when a token names a key it does not hold;
a verified token is remembered until it expires. PyJWT and cryptography (about 40 ms of import)
load on the first token to check, not at cold start: behind the HTTP API no token is checked here.
"""

import asyncio
import time
from functools import cache
from typing import TYPE_CHECKING, Any

from aether.settings import get_settings

if TYPE_CHECKING:
    import jwt

__all__ = ["SESSION_COOKIE", "SESSION_MAX_S", "bearer_claims", "verified_claims"]

# The dashboard's browser sign-in: an admin's token kept in an HttpOnly cookie of this name for at
# most SESSION_MAX_S (never past the token's own expiry), read by the HTTP API's Lambda authorizer.
SESSION_COOKIE = "aether_session"
SESSION_MAX_S = 3600


@cache
def _keys(url: str) -> "jwt.PyJWKClient":
    import jwt

    return jwt.PyJWKClient(url, cache_keys=True, lifespan=3600, timeout=2)


def _verify(token: str) -> dict[str, Any] | None:
    import jwt

    settings = get_settings()
    url = settings.jwt_jwks_url or f"{settings.jwt_issuer.rstrip('/')}/.well-known/jwks.json"
    try:
        key = _keys(url).get_signing_key_from_jwt(token)
        claims: dict[str, Any] = jwt.decode(
            token,
            key,
            algorithms=["RS256"],
            issuer=settings.jwt_issuer,
            options={"require": ["exp", "iss", "sub"], "verify_aud": False},
        )
    except jwt.PyJWTError:
        return None
    audiences = {a.strip() for a in settings.jwt_audience.split(",") if a.strip()}
    aud = claims.get("aud")
    presented = {*(aud if isinstance(aud, list) else [aud]), claims.get("client_id")}
    return claims if audiences & presented else None


# Tokens this environment verified, until they expire: a client sends the same token with each
# request, and checking its signature again costs ~1 ms (BENCHMARKS.md, streaming).
_VERIFIED_MAX = 1024
_verified: dict[str, dict[str, Any]] = {}


def _token(authorization: str | None) -> str | None:
    if not get_settings().jwt_issuer or not authorization:
        return None
    scheme, _, token = authorization.partition(" ")
    token = token.strip()
    return token if scheme.lower() == "bearer" and token else None


def _remembered(token: str) -> dict[str, Any] | None:
    claims = _verified.get(token)
    return claims if claims is not None and claims["exp"] > time.time() else None


def _checked(token: str) -> dict[str, Any] | None:
    claims = _verify(token)
    if claims is not None:
        if len(_verified) >= _VERIFIED_MAX:
            _verified.pop(next(iter(_verified)), None)  # the oldest
        _verified[token] = claims
    return claims


def bearer_claims(authorization: str | None) -> dict[str, Any] | None:
    """The claims of a valid `Bearer` token, else None (also when no issuer is configured)."""
    token = _token(authorization)
    if token is None:
        return None
    return _remembered(token) or _checked(token)


async def verified_claims(authorization: str | None) -> dict[str, Any] | None:
    """`bearer_claims` for an event loop: a token not yet verified (the first call of an
    environment fetches the key set over HTTP) is checked off the loop."""
    token = _token(authorization)
    if token is None:
        return None
    return _remembered(token) or await asyncio.to_thread(_checked, token)
