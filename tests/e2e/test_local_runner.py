"""`aether-local` end to end: the runner over HTTP, and `invoke` with the sample events."""

import json
import subprocess
import threading
import urllib.error
import urllib.request
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from aether_local.model_server import Reply
from tests.helpers import AETHER_LOCAL, ROOT, local_env


def _call(api: dict[str, str], method: str, path: str, body: Any = None, token: str | None = None):
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(f"{api['url']}/api/ai/v4{path}", data=data, method=method)
    request.add_header("content-type", "application/json")
    if token:
        request.add_header("authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_chat_over_http_with_a_dev_token_answers_from_the_offline_model(local_api):
    assert "OFFLINE" in local_api["model"]
    status, body = _call(
        local_api, "POST", "/chat/optimized", {"message": "Hello from curl"}, local_api["user"]
    )
    assert status == 200, body
    assert body["content"].startswith("[offline model")
    assert "not produced by a real model" in body["content"]
    assert body["conversation_id"]
    status, again = _call(
        local_api,
        "POST",
        "/chat/optimized",
        {"message": "And again", "conversation_id": body["conversation_id"]},
        local_api["user"],
    )
    assert status == 200 and again["conversation_id"] == body["conversation_id"]


def test_runner_enforces_auth_like_the_jwt_authorizer(local_api):
    assert _call(local_api, "POST", "/chat/optimized", {"message": "hi"}) == (
        401,
        {"message": "Unauthorized"},
    )
    status, _ = _call(local_api, "POST", "/chat/optimized", {"message": "hi"}, local_api["user"] + "x")
    assert status == 401
    status, body = _call(local_api, "GET", "/performance/dashboard", token=local_api["user"])
    assert (status, body["error"]["code"]) == (403, "forbidden")
    status, body = _call(local_api, "GET", "/performance/dashboard", token=local_api["admin"])
    assert status == 200 and "routes" in body
    status, body = _call(local_api, "GET", "/health/detailed")  # no public route: a token is needed
    assert status == 401
    status, body = _call(local_api, "GET", "/health/detailed", token=local_api["user"])
    assert status == 200 and set(body) == {"status"}
    status, body = _call(local_api, "GET", "/health/detailed", token=local_api["admin"])
    assert set(body["checks"]) == {"mongodb", "redis", "model_provider"}


def test_a_browser_signs_in_to_the_dashboard_with_a_link_and_keeps_a_session_cookie(local_api):
    page = f"{local_api['url']}/api/ai/v4/performance/dashboard"
    with httpx.Client(timeout=30) as browser:  # keeps cookies as a browser does
        # Without a token or cookie the Lambda authorizer refuses, before the function runs.
        assert browser.get(page, params={"format": "html"}).status_code == 403
        signed_in = browser.get(local_api["dashboard_sign_in"])
        assert signed_in.status_code == 303
        assert (
            signed_in.headers["location"] == "/api/ai/v4/performance/dashboard?format=html"
        )  # token dropped
        cookie = signed_in.headers["set-cookie"]
        assert cookie.startswith(f"aether_session={local_api['admin']};")
        for attribute in (
            "HttpOnly",
            "SameSite=strict",
            "Path=/api/ai/v4/performance/dashboard",
            "Max-Age=3600",
        ):
            assert attribute in cookie
        shown = browser.get(page, params={"format": "html"})  # no Authorization header: the cookie
        assert shown.status_code == 200 and "<svg" in shown.text
        assert browser.get(page, params={"sign_out": "true"}).status_code == 200
        assert "aether_session" not in browser.cookies  # deleted: the page is closed again
        assert browser.get(page, params={"format": "html"}).status_code == 403
    # A user's token makes no admin session; a cookie that is not a valid token opens nothing.
    user = httpx.get(page, cookies={"aether_session": local_api["user"]}, timeout=30)
    assert (user.status_code, user.json()["error"]["code"]) == (403, "forbidden")
    assert httpx.get(page, cookies={"aether_session": "not.a.jwt"}, timeout=30).status_code == 403
    # API clients keep the header.
    assert (
        httpx.get(page, headers={"authorization": f"Bearer {local_api['admin']}"}, timeout=30).status_code
        == 200
    )


def test_unknown_route_is_404(local_api):
    status, body = _call(local_api, "GET", "/nope", token=local_api["user"])
    assert status == 404 and body == {"message": "Not Found"}


@pytest.fixture(scope="module")
def indexed(environment: dict[str, str]) -> None:
    """The indexes in place, as after a deployment (conversation search needs its text index)."""
    subprocess.run([*AETHER_LOCAL, "indexes"], cwd=ROOT, env=local_env(environment), check=True, timeout=60)


@pytest.mark.parametrize("event_file", sorted(p.name for p in (ROOT / "events").glob("*.json")))
def test_invoke_runs_each_sample_event_through_its_function(environment, indexed, event_file):
    function = "multi_agent" if event_file.startswith("multi_agent") else event_file.split("_")[0]
    result = subprocess.run(
        [*AETHER_LOCAL, "invoke", function, "--event", str(Path("events") / event_file)],
        cwd=ROOT,
        env=local_env(environment),
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    response = json.loads(result.stdout)
    assert response["statusCode"] == 200, response["body"]  # every route of the API is built


def test_the_http_api_serves_requests_at_once_in_environments_of_their_own(scripted_api, model):
    # Given a model that answers only once four calls are in flight at once
    together = threading.Barrier(4, timeout=30)
    model.responder = lambda body: Reply(content="together", together=together)
    headers = {"authorization": f"Bearer {scripted_api['user']}"}
    tag = uuid.uuid4().hex

    def ask(number: int) -> int:
        quick = {"message": f"at once {number} {tag}"}
        url = scripted_api["url"] + "/api/ai/v4/chat/quick"
        return httpx.post(url, json=quick, headers=headers, timeout=60).status_code

    # When four clients ask at once through the HTTP API (one environment would serve one of
    # them, whose call would wait for the others until the barrier broke)
    with ThreadPoolExecutor(4) as pool:
        statuses = list(pool.map(ask, range(4)))
    # Then the chat function ran four environments side by side, as Lambda would
    assert statuses == [200] * 4 and not together.broken
