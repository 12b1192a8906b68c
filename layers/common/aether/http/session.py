"""The dashboard's browser sign-in: a sign-in link's token exchanged for a session cookie.

An admin opens the dashboard page once with `access_token=<token>` (the link the local runner
prints, or one made with the identity provider's token). The HTTP API's Lambda authorizer has
checked that token before the function runs; the function answers 303 to the same page without
it, setting the token as an HttpOnly, SameSite=Strict cookie (Secure behind HTTPS) scoped to the
page's path, for at most SESSION_MAX_S and never past the token's expiry. The page's reloads then
carry the cookie, which the authorizer checks on every request like a bearer token. The token
stays in the browser's history as part of the link: give sign-in links short-lived tokens.
`sign_out=true` deletes the cookie.
"""

import base64
import json
import re
import time
from typing import Any
from urllib.parse import urlencode

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse

from aether.errors import BadRequest
from aether.tokens import SESSION_COOKIE, SESSION_MAX_S

__all__ = ["signed_in", "signed_out"]

_JWT = re.compile(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+")  # what a cookie may carry as is


def _expires(token: str) -> float:
    """The token's `exp` (its signature was checked by the authorizer); now when unreadable."""
    try:
        payload = token.split(".")[1]
        return float(json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))["exp"])
    except (IndexError, ValueError, KeyError, TypeError):
        return time.time()


def _cookie(request: Request) -> dict[str, Any]:
    """The session cookie's attributes, the same to set it and to delete it."""
    secure = request.headers.get("x-forwarded-proto") == "https"
    return {
        "key": SESSION_COOKIE,
        "path": request.url.path,
        "secure": secure,
        "httponly": True,
        "samesite": "strict",
    }


def signed_in(request: Request, token: str) -> RedirectResponse:
    """303 to the same page without the token, which becomes the session cookie."""
    if not _JWT.fullmatch(token):
        raise BadRequest("access_token is not a JSON Web Token", param="access_token")
    query = urlencode([(k, v) for k, v in request.query_params.multi_items() if k != "access_token"])
    response = RedirectResponse(request.url.path + (f"?{query}" if query else ""), status_code=303)
    max_age = max(0, int(min(SESSION_MAX_S, _expires(token) - time.time())))
    response.set_cookie(value=token, max_age=max_age, **_cookie(request))
    response.headers["cache-control"] = "no-store"
    return response


def signed_out(request: Request) -> HTMLResponse:
    """A page saying so, with the session cookie deleted."""
    response = HTMLResponse(
        "<!doctype html><title>Signed out</title><p>Signed out of the Aether dashboard.</p>"
    )
    response.delete_cookie(**_cookie(request))
    response.headers["cache-control"] = "no-store"
    return response
