"""Two execution environments in two processes share L3, and a clear in one reaches the other."""

import json
import os
import subprocess
import sys
from typing import Any

from tests.conftest import ROOT


class EnvironmentProcess:
    def __init__(self, environment: dict[str, str]) -> None:
        env = {**os.environ, **environment, "CACHE_VERSION_TTL_MS": "0"}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tests.environment_process"],
            cwd=ROOT,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )

    def call(self, function: str, method: str, path: str, body: Any, sub: str) -> dict[str, Any]:
        assert self.process.stdin is not None and self.process.stdout is not None
        request = {"function": function, "method": method, "path": path, "body": body, "sub": sub}
        self.process.stdin.write(json.dumps(request) + "\n")
        self.process.stdin.flush()
        return json.loads(self.process.stdout.readline())

    def close(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.close()
        self.process.wait(10)


def test_clear_in_one_environment_reaches_the_other(environment, model, user):
    a, b = EnvironmentProcess(environment), EnvironmentProcess(environment)
    ask = {"message": "Which tier answers this?"}
    try:
        first = a.call("chat", "POST", "/chat/optimized", ask, user)["body"]
        again = a.call("chat", "POST", "/chat/optimized", ask, user)["body"]
        elsewhere = b.call("chat", "POST", "/chat/optimized", ask, user)["body"]
        cleared = b.call("chat", "POST", "/cache/clear", {}, user)
        after = a.call("chat", "POST", "/chat/optimized", ask, user)["body"]
    finally:
        a.close()
        b.close()
    # With CACHE_VERSION_TTL_MS=0 each lookup reads the namespace version with the L3 entry.
    assert (first["cached"], again["cache_tier"], elsewhere["cache_tier"]) == (False, "l3", "l3")
    assert cleared["status"] == 200
    # B's clear bumped the version: A's L2 and the old L3 entry are both out of reach
    assert after["cached"] is False
    assert len(model.requests) == 2
