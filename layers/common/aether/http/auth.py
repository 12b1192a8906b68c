"""The caller's identity, taken only from verified claims.

Behind the HTTP API those are the JWT authorizer's; behind the streaming function URL, which has
no authorizer, the function verifies the bearer token with the same settings (aether.http.tokens).
"""

from typing import Annotated, Any

from fastapi import Depends, Request

from aether.core import Principal
from aether.errors import Forbidden, Unauthorized
from aether.http.tokens import verified_claims
from aether.settings import get_settings

__all__ = ["AdminPrincipal", "CurrentPrincipal", "OptionalPrincipal", "principal_from_claims"]


def _as_list(value: Any) -> list[str]:
    """Claim values as a list: a JSON array, or API Gateway's flattened "[a b]" string form."""
    if value is None:
        return []
    if isinstance(value, list):
        return [str(v) for v in value]
    text = str(value).strip()
    if text.startswith("[") and text.endswith("]"):
        text = text[1:-1].replace(",", " ")
    return text.split()


def principal_from_claims(claims: dict[str, Any]) -> Principal | None:
    user_id = claims.get("sub")
    if not user_id:
        return None
    settings = get_settings()
    groups = _as_list(claims.get("cognito:groups")) + _as_list(claims.get("groups"))
    scopes = _as_list(claims.get("scope")) + _as_list(claims.get("scp"))
    is_admin = settings.admin_group in groups or settings.admin_scope in scopes
    return Principal(user_id=str(user_id), is_admin=is_admin, plan=str(claims.get(settings.plan_claim, "")))


async def _maybe_principal(request: Request) -> Principal | None:
    event = request.scope.get("aws.event")
    if event is None:
        # Served over HTTP by the Lambda Web Adapter (the streaming function URL): no authorizer
        # stands in front, so the function checks the bearer token itself.
        claims = await verified_claims(request.headers.get("authorization")) or {}
    else:
        claims = event.get("requestContext", {}).get("authorizer", {}).get("jwt", {}).get("claims") or {}
    return principal_from_claims(claims)


async def _principal(principal: Annotated[Principal | None, Depends(_maybe_principal)]) -> Principal:
    if principal is None:
        raise Unauthorized("authentication required: no caller identity in the request")
    return principal


async def _admin(principal: Annotated[Principal, Depends(_principal)]) -> Principal:
    if not principal.is_admin:
        raise Forbidden("this route is for administrators")
    return principal


CurrentPrincipal = Annotated[Principal, Depends(_principal)]
OptionalPrincipal = Annotated[Principal | None, Depends(_maybe_principal)]
AdminPrincipal = Annotated[Principal, Depends(_admin)]
