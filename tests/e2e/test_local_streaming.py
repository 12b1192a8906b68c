"""The stream API of `aether-local serve`: tokens as they come, behind the token authorizer, and
the app's own check of the token behind it."""

import json
import threading
import uuid
from collections.abc import Iterator

import httpx

from aether_local.devauth import DevAuth
from aether_local.model_server import Reply

STREAM = "/api/ai/v4/chat/stream"


def sse_events(lines: Iterator[str]) -> Iterator[tuple[str, dict]]:
    kind = ""
    for line in lines:
        if line.startswith("event: "):
            kind = line[7:]
        elif line.startswith("data: "):
            yield kind, json.loads(line[6:])


def test_the_first_token_reaches_the_client_before_the_model_has_finished(scripted_api, model):
    held = threading.Event()  # the model sends its first chunk, then waits for this
    model.responder = lambda body: Reply(content="first second third", hold_after_first_chunk=held)
    headers = {"authorization": f"Bearer {scripted_api['user']}"}
    message = f"Stream me an answer {uuid.uuid4().hex}"
    # A runner that buffered the response could not deliver "first" while the model waits: the
    # read would time out and fail the test.
    with (
        httpx.Client(timeout=10) as client,
        client.stream(
            "POST", scripted_api["stream_url"] + STREAM, json={"message": message}, headers=headers
        ) as response,
    ):
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        events = sse_events(response.iter_lines())
        assert next(events)[0] == "start"
        assert next(events) == ("delta", {"content": "first"})
        assert not held.is_set()  # the model has not finished: it is still holding the rest
        held.set()
        rest = list(events)
    assert "".join(data["content"] for kind, data in rest if kind == "delta") == " second third"
    assert rest[-1][0] == "done" and rest[-1][1]["completion_tokens"] == 3


def test_the_http_api_route_answers_the_same_stream_whole(scripted_api, model):
    model.responder = lambda body: Reply(content="whole answer")
    response = httpx.post(
        scripted_api["url"] + STREAM,
        json={"message": f"Answer whole {uuid.uuid4().hex}"},
        headers={"authorization": f"Bearer {scripted_api['user']}"},
        timeout=10,
    )
    assert response.status_code == 200
    assert int(response.headers["content-length"]) == len(response.content)  # not chunked
    kinds = [kind for kind, _ in sse_events(iter(response.text.splitlines()))]
    assert kinds[0] == "start" and kinds[-1] == "done"


def test_the_stream_api_serves_its_routes_only_and_only_with_a_valid_token(scripted_api, model):
    base, user = scripted_api["stream_url"], {"authorization": f"Bearer {scripted_api['user']}"}
    assert httpx.get(base + "/v1/models", headers=user).status_code == 200
    assert httpx.get(base + "/v1/models/aether-dev", headers=user).status_code == 200
    # A route the REST API does not have is API Gateway's 403, token or not: the app's other
    # routes (agents, conversations, cache) are not reachable through the stream API.
    missing = httpx.get(base + "/api/ai/v4/agents", headers=user)
    assert missing.status_code == 403 and missing.json() == {"message": "Missing Authentication Token"}
    assert httpx.post(base + "/v1/models", headers=user).status_code == 403  # a method it does not have
    for headers in (
        {},  # no Authorization header: refused before the authorizer runs
        {"authorization": "Basic dXNlcjpwYXNz"},  # not a bearer token (identityValidationExpression)
        {"authorization": f"Bearer {DevAuth(issuer=scripted_api['url']).sign('mallory')}"},  # wrong key
        {"authorization": "Bearer not.a.jwt"},
    ):
        response = httpx.post(base + STREAM, json={"message": "hi"}, headers=headers)
        assert (response.status_code, response.json()) == (401, {"message": "Unauthorized"})


def test_the_app_behind_the_stream_api_checks_the_token_itself(scripted_api, model):
    # As the Lambda Web Adapter forwards to it: the app refuses a request without a valid token
    # even when it comes past the gateway, and does not trust claims in a request-context header.
    app = scripted_api["stream_app_url"] + "/v1/models"
    assert httpx.get(app, headers={"authorization": f"Bearer {scripted_api['user']}"}).status_code == 200
    assert httpx.get(app).status_code == 401
    forged = {"authorizer": {"jwt": {"claims": {"sub": "mallory", "cognito:groups": "[aether-admins]"}}}}
    assert httpx.get(app, headers={"x-amzn-request-context": json.dumps(forged)}).status_code == 401


def test_the_stream_api_keeps_answering_while_nobody_reads_the_runners_output(scripted_api, model):
    # The runner's stdout is read only until it says where it listens (as here): the app's EMF
    # lines, about 1.5 KB a request, once filled that pipe (64 KiB) and stalled its event loop.
    headers = {"authorization": f"Bearer {scripted_api['user']}"}
    with httpx.Client(timeout=10) as client:
        statuses = [
            client.get(scripted_api["stream_url"] + "/v1/models", headers=headers).status_code
            for _ in range(120)
        ]
    assert statuses == [200] * 120
