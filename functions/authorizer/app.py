"""authorizer function: the Lambda authorizer of both APIs where a JWT authorizer cannot serve.

- The stream API's TOKEN authorizer. REST APIs, the only API Gateway APIs that stream a Lambda
  function's response, have no JWT authorizer. A valid token is allowed on every method of the
  stage, since API Gateway caches the answer per token for all of the API's routes; anything else
  raises "Unauthorized", which API Gateway answers with a 401 without invoking the function.
- The HTTP API's REQUEST authorizer of the dashboard page (payload 2.0, simple responses), which a
  browser opens without an Authorization header: the token comes from the header, else from a
  sign-in link's `access_token` (first, so the token being exchanged is the one checked), else
  from the session cookie. The claims go to the function as the authorizer's context.

Both apply the HTTP API's JWT authorizer's checks (aether.tokens: the same issuer, audiences and
key set).
"""

from typing import Any

from aether.tokens import SESSION_COOKIE, bearer_claims


def _stage_arn(method_arn: str) -> str:
    """arn:...:execute-api:region:account:api/stage/METHOD/path -> arn:...:api/stage/*"""
    api, stage = method_arn.split("/", 2)[:2]
    return f"{api}/{stage}/*"


def _presented(event: dict[str, Any]) -> str | None:
    """The bearer token of an HTTP API request: a sign-in link's, the header's, or the cookie's."""
    link = (event.get("queryStringParameters") or {}).get("access_token")
    if link:
        return f"Bearer {link}"
    header = (event.get("headers") or {}).get("authorization")
    if header:
        return str(header)
    for cookie in event.get("cookies") or ():
        name, _, value = cookie.partition("=")
        if name.strip() == SESSION_COOKIE and value:
            return f"Bearer {value.strip()}"
    return None


def _context(claims: dict[str, Any]) -> dict[str, Any]:
    """Claims as an authorizer's context holds them: strings, numbers and booleans (a list as one
    space-separated string, as API Gateway flattens a JWT authorizer's)."""
    context: dict[str, Any] = {}
    for name, value in claims.items():
        if isinstance(value, list):
            context[name] = " ".join(str(v) for v in value)
        elif isinstance(value, str | int | float | bool):
            context[name] = value
    return context


def handler(event: dict[str, Any], context: object) -> dict[str, Any]:
    if event.get("type") == "REQUEST":
        claims = bearer_claims(_presented(event))
        return {"isAuthorized": claims is not None, "context": _context(claims or {})}
    claims = bearer_claims(event.get("authorizationToken"))
    if claims is None:
        raise PermissionError("Unauthorized")  # the message API Gateway turns into a 401
    statement = {
        "Action": "execute-api:Invoke",
        "Effect": "Allow",
        "Resource": _stage_arn(event["methodArn"]),
    }
    return {
        "principalId": str(claims["sub"]),
        "policyDocument": {"Version": "2012-10-17", "Statement": [statement]},
    }
