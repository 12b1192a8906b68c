"""Dev JWTs (RS256) that only the local runner signs; deployed functions never see them.

On AWS, API Gateway's JWT authorizer validates the token and hands the claims to the function;
locally the runner plays that part with a key pair it makes at start. It also publishes the
public key as a JWKS, as an identity provider does, so that the stream API's token authorizer and
the streamed app behind it verify the same tokens with the code they run on AWS.
"""

import secrets
import time
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa

__all__ = ["DEV_AUDIENCE", "DevAuth"]

DEV_AUDIENCE = "aether-local"


class DevAuth:
    def __init__(self, issuer: str = "aether-local") -> None:
        self.issuer = issuer
        self._key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self._kid = secrets.token_hex(8)

    def jwks(self) -> dict[str, Any]:
        """The public key as a JSON Web Key Set."""
        key = jwt.algorithms.RSAAlgorithm.to_jwk(self._key.public_key(), as_dict=True)
        return {"keys": [{**key, "kid": self._kid, "use": "sig", "alg": "RS256"}]}

    def sign(self, sub: str, groups: list[str] | None = None, ttl_s: int = 12 * 3600) -> str:
        now = int(time.time())
        claims: dict[str, Any] = {
            "sub": sub,
            "iss": self.issuer,
            "aud": DEV_AUDIENCE,
            "iat": now,
            "exp": now + ttl_s,
        }
        if groups:
            claims["cognito:groups"] = groups
        return jwt.encode(claims, self._key, algorithm="RS256", headers={"kid": self._kid})

    def verify(self, authorization: str | None) -> dict[str, Any] | None:
        """Claims of a valid `Bearer` token, in API Gateway's form (arrays flattened), else None."""
        if not authorization or not authorization.startswith("Bearer "):
            return None
        try:
            claims = jwt.decode(
                authorization[7:].strip(),
                self._key.public_key(),
                algorithms=["RS256"],
                issuer=self.issuer,
                audience=DEV_AUDIENCE,
            )
        except jwt.PyJWTError:
            return None
        return {k: f"[{' '.join(v)}]" if isinstance(v, list) else str(v) for k, v in claims.items()}
