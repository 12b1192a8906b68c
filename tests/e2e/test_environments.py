"""Two execution environments of the chat function (two processes) share L3, and a clear in one
reaches the other."""

import json
from typing import Any

from aether_local.events import http_api_event
from aether_local.lambda_host import FunctionHost
from aether_local.template import read_template
from tests.helpers import ROOT

PREFIX = "/api/ai/v4"


def request(method: str, path: str, body: dict[str, Any], sub: str) -> dict[str, Any]:
    return http_api_event(
        method=method,
        path=PREFIX + path,
        query="",
        headers={"content-type": "application/json"},
        body=json.dumps(body).encode(),
        route_key=f"{method} {PREFIX + path}",
        path_parameters={},
        claims={"sub": sub},
    )


def test_clear_in_one_environment_reaches_the_other(environment, model, user, monkeypatch):
    monkeypatch.setenv("CACHE_VERSION_TTL_MS", "0")  # inherited by the two environments' processes
    (chat,) = {r.function for r in read_template(ROOT / "template.yaml") if r.function.name == "chat"}
    a, b = FunctionHost(chat), FunctionHost(chat)
    ask = {"message": "Which tier answers this?"}

    def call(host: FunctionHost, method: str, path: str, body: dict[str, Any]) -> dict[str, Any]:
        return json.loads(host.invoke(request(method, path, body, user))["body"])

    try:
        first = call(a, "POST", "/chat/optimized", ask)
        again = call(a, "POST", "/chat/optimized", ask)
        elsewhere = call(b, "POST", "/chat/optimized", ask)
        cleared = call(b, "POST", "/cache/clear", {})
        after = call(a, "POST", "/chat/optimized", ask)
    finally:
        a.close()
        b.close()
    # With CACHE_VERSION_TTL_MS=0 each lookup reads the namespace version with the L3 entry.
    assert (first["cached"], again["cache_tier"], elsewhere["cache_tier"]) == (False, "l3", "l3")
    assert cleared["cleared"] == "user"
    # B's clear bumped the version: A's L2 and the old L3 entry are both out of reach
    assert after["cached"] is False
    assert len(model.requests) == 2
