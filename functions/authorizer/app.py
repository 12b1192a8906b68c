"""authorizer function: the stream API's Lambda TOKEN authorizer.

REST APIs, the only API Gateway APIs that stream a Lambda function's response, have no JWT
authorizer. This one applies the HTTP API's JWT authorizer's checks (aether.tokens: the same
issuer, audiences and key set) to the Authorization header. A valid token is allowed on every
method of the stage, since API Gateway caches the answer per token for all of the API's routes;
anything else raises "Unauthorized", which API Gateway answers with a 401 without invoking the
route's function.
"""

from typing import Any

from aether.tokens import bearer_claims


def _stage_arn(method_arn: str) -> str:
    """arn:...:execute-api:region:account:api/stage/METHOD/path -> arn:...:api/stage/*"""
    api, stage = method_arn.split("/", 2)[:2]
    return f"{api}/{stage}/*"


def handler(event: dict[str, Any], context: object) -> dict[str, Any]:
    claims = bearer_claims(event.get("authorizationToken"))
    if claims is None:
        raise PermissionError("Unauthorized")  # the message API Gateway turns into a 401
    return {
        "principalId": str(claims["sub"]),
        "policyDocument": {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Action": "execute-api:Invoke",
                    "Effect": "Allow",
                    "Resource": _stage_arn(event["methodArn"]),
                }
            ],
        },
    }
