"""Bearer tokens verified by the HTTP API's JWT rules: in the stream API's token authorizer
(functions/authorizer) and again in the app behind it."""

import asyncio
import json
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from aether.tokens import verified_claims
from tests.helpers import function, reset_process

ISSUER = "https://issuer.example"
KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def jwks_url() -> Iterator[str]:
    jwk = jwt.algorithms.RSAAlgorithm.to_jwk(KEY.public_key(), as_dict=True)
    body = json.dumps({"keys": [{**jwk, "kid": "k1", "alg": "RS256", "use": "sig"}]}).encode()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/jwks.json"
    server.shutdown()


@pytest.fixture
def configured(settings_env, jwks_url):
    settings_env.setenv("JWT_ISSUER", ISSUER)
    settings_env.setenv("JWT_AUDIENCE", "web-client, mobile-client")
    settings_env.setenv("JWT_JWKS_URL", jwks_url)
    reset_process()


def token(key: Any = KEY, **claims: Any) -> str:
    now = int(time.time())
    body = {"sub": "alice", "iss": ISSUER, "aud": "web-client", "iat": now, "exp": now + 60, **claims}
    return jwt.encode(
        {k: v for k, v in body.items() if v is not None}, key, algorithm="RS256", headers={"kid": "k1"}
    )


def check(authorization: str | None) -> dict | None:
    # On a thread of its own: the main thread's event loop belongs to the handlers under test.
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, verified_claims(authorization)).result()


def test_a_valid_token_gives_its_claims(configured):
    claims = check(f"Bearer {token()}")
    assert claims is not None and claims["sub"] == "alice"
    # Cognito access tokens name the app client in client_id instead of aud
    assert check(f"Bearer {token(aud=None, client_id='mobile-client')}") is not None


@pytest.mark.parametrize(
    "bad",
    [
        {"aud": "someone-else"},
        {"aud": None, "client_id": "someone-else"},
        {"iss": "https://other.example"},
        {"exp": int(time.time()) - 60},
        {"sub": None},
        {"key": rsa.generate_private_key(public_exponent=65537, key_size=2048)},
    ],
    ids=["audience", "client-id", "issuer", "expired", "no-subject", "foreign-key"],
)
def test_tokens_the_http_apis_authorizer_would_refuse_are_refused(configured, bad):
    assert check(f"Bearer {token(**bad)}") is None


def test_no_token_a_malformed_one_or_no_issuer_configured_gives_nothing(configured, settings_env):
    assert check(None) is None
    assert check(token()) is None  # no scheme
    assert check("Bearer not.a.jwt") is None
    settings_env.setenv("JWT_ISSUER", "")
    reset_process()
    assert check(f"Bearer {token()}") is None


def test_a_verified_token_is_remembered_until_it_expires(configured, monkeypatch):
    import aether.tokens as tokens

    calls = []
    verify = tokens._verify
    monkeypatch.setattr(tokens, "_verify", lambda t: calls.append(t) or verify(t))
    fresh = token(sub="carol", exp=int(time.time()) + 60)
    assert check(f"Bearer {fresh}")["sub"] == check(f"Bearer {fresh}")["sub"] == "carol"
    assert len(calls) == 1
    expired = token(sub="dave", exp=int(time.time()) + 60)
    tokens._verified[expired] = {"sub": "dave", "exp": time.time() - 1}  # as if it had expired since
    assert check(f"Bearer {expired}")["sub"] == "dave" and len(calls) == 2  # checked again


METHOD_ARN = "arn:aws:execute-api:eu-west-1:123456789012:abc123/stream/POST/v1/chat/completions"


def authorize(authorization: str) -> dict:
    return function("authorizer").handler(
        {"type": "TOKEN", "authorizationToken": authorization, "methodArn": METHOD_ARN}, None
    )


def test_the_authorizer_allows_a_valid_token_on_every_route_of_the_stage(configured):
    answer = authorize(f"Bearer {token(sub='erin')}")
    assert answer["principalId"] == "erin"
    # API Gateway keeps this answer for the token and applies it to the API's other routes too.
    assert answer["policyDocument"]["Statement"] == [
        {
            "Action": "execute-api:Invoke",
            "Effect": "Allow",
            "Resource": "arn:aws:execute-api:eu-west-1:123456789012:abc123/stream/*",
        }
    ]


@pytest.mark.parametrize(
    "authorization",
    [
        f"Bearer {token(aud='someone-else')}",
        f"Bearer {token(exp=int(time.time()) - 60)}",
        f"Bearer {token(key=rsa.generate_private_key(public_exponent=65537, key_size=2048))}",
        "Bearer not.a.jwt",
        "Basic dXNlcjpwYXNz",
        "",
    ],
    ids=["audience", "expired", "foreign-key", "malformed", "not-bearer", "empty"],
)
def test_the_authorizer_answers_unauthorized_to_any_other_token(configured, authorization):
    with pytest.raises(Exception, match=r"^Unauthorized$"):  # the message API Gateway makes a 401 of
        authorize(authorization)


def ask(**request: object) -> dict:
    """The HTTP API's REQUEST authorizer event (payload 2.0) for the dashboard page."""
    evt = {"version": "2.0", "type": "REQUEST", "routeArn": METHOD_ARN, "identitySource": [], **request}
    return function("authorizer").handler(evt, None)


def test_the_dashboard_authorizer_takes_a_link_then_the_header_then_the_session_cookie(configured):
    admin, user = token(sub="ada", **{"cognito:groups": ["aether-admins"]}), token(sub="bob")
    answer = ask(cookies=["theme=dark", f"aether_session={admin}"])
    assert answer["isAuthorized"] is True
    assert answer["context"]["sub"] == "ada" and answer["context"]["cognito:groups"] == "aether-admins"
    assert (
        ask(headers={"authorization": f"Bearer {user}"}, cookies=[f"aether_session={admin}"])["context"][
            "sub"
        ]
        == "bob"
    )
    link = ask(queryStringParameters={"access_token": admin}, headers={"authorization": f"Bearer {user}"})
    assert link["context"]["sub"] == "ada"  # the token being exchanged is the one checked


@pytest.mark.parametrize(
    "request_",
    [
        {},
        {"cookies": ["aether_session=not.a.jwt"]},
        {"cookies": ["other=x"]},
        {"headers": {"authorization": "Basic x"}},
    ],
    ids=["nothing", "bad-cookie", "other-cookie", "not-bearer"],
)
def test_the_dashboard_authorizer_refuses_anything_else(configured, request_):
    assert ask(**request_) == {"isAuthorized": False, "context": {}}
