"""The caller's identity, taken only from verified claims.

Behind the HTTP API those are the JWT authorizer's, or for the dashboard page the Lambda
authorizer's context (the same claims), in the event. Behind the stream API the app
runs under the Lambda Web Adapter, which passes no authorizer's claims the app could trust, so it
verifies the bearer token itself with the same settings (aether.tokens), after the gateway's
token authorizer did.
"""

from typing import Annotated, Any

from fastapi import Depends, Request

from aether.core import Principal
from aether.errors import Forbidden, Unauthorized
from aether.settings import get_settings
from aether.tokens import verified_claims

__all__ = ["AdminPrincipal", "CurrentPrincipal", "principal_from_claims"]


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
        # Served over HTTP by the Lambda Web Adapter (the stream API): the function checks the
        # bearer token itself.
        claims = await verified_claims(request.headers.get("authorization")) or {}
    else:
        authorizer = event.get("requestContext", {}).get("authorizer", {})
        claims = authorizer.get("jwt", {}).get("claims") or authorizer.get("lambda") or {}
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
AdminPrincipal = Annotated[Principal, Depends(_admin)]
