"""Runs a function's handler as Lambda does: execution environments of one request at a time.

Each environment is a child process (`aether_local.worker`) started when a request finds none
idle (the cold start); it keeps the imported module, Mangum's event loop and the clients bound
to it for the warm invocations that follow, and shares nothing with other environments.
"""

import json
import os
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from aether_local.template import FunctionSpec

__all__ = ["FunctionHost", "LambdaContext"]


@dataclass
class LambdaContext:
    """The attributes of Lambda's context object that handlers and Powertools read."""

    function_name: str
    memory_limit_in_mb: int
    timeout_s: int
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    started: float = field(default_factory=time.monotonic)

    @property
    def invoked_function_arn(self) -> str:
        return f"arn:aws:lambda:local:000000000000:function:{self.function_name}"

    @property
    def log_group_name(self) -> str:
        return f"/aws/lambda/{self.function_name}"

    @property
    def log_stream_name(self) -> str:
        return "local"

    @property
    def function_version(self) -> str:
        return "$LATEST"

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self.timeout_s - (time.monotonic() - self.started)) * 1000))


class _Environment:
    """One execution environment: a worker process that keeps its module and clients warm and
    serves one request at a time."""

    def __init__(self, spec: FunctionSpec, environment: dict[str, str]) -> None:
        args = [str(spec.code_dir), spec.handler, spec.name, str(spec.memory_mb), str(spec.timeout_s)]
        self.name = spec.name
        self.process = subprocess.Popen(
            [sys.executable, "-m", "aether_local.worker", *args],
            env={**os.environ, **environment},
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            bufsize=1,
        )

    def invoke(self, event: dict[str, Any]) -> dict[str, Any]:
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write(json.dumps(event) + "\n")
        self.process.stdin.flush()
        line = self.process.stdout.readline()
        if not line:
            raise RuntimeError(f"the {self.name} function's process exited")
        response: dict[str, Any] = json.loads(line)
        return response

    def close(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.close()
        self.process.wait(10)


class FunctionHost:
    """A function's execution environments, as Lambda scales them: a request goes to an idle
    environment (the most recently used, warm), else to a new one (a cold start) while there are
    fewer than `environments`, else waits for one to be free (reserved concurrency). `environment`
    holds the function's own variables, over the runner's."""

    def __init__(
        self, spec: FunctionSpec, environments: int = 1, environment: dict[str, str] | None = None
    ) -> None:
        self.spec = spec
        self.environments = environments
        self.environment = environment or {}
        self._idle: list[_Environment] = []
        self._started = 0
        self._changed = threading.Condition()

    def invoke(self, event: dict[str, Any]) -> dict[str, Any]:
        environment = self._take()
        try:
            response = environment.invoke(event)
        except BaseException:
            with self._changed:  # a broken environment is not reused: the next request starts one
                self._started -= 1
                self._changed.notify()
            raise
        with self._changed:
            self._idle.append(environment)
            self._changed.notify()
        return response

    def _take(self) -> _Environment:
        with self._changed:
            while not self._idle and self._started >= self.environments:
                self._changed.wait()
            if self._idle:
                return self._idle.pop()
            self._started += 1
        try:
            return _Environment(
                self.spec, self.environment
            )  # outside the lock: other requests go on meanwhile
        except BaseException:
            with self._changed:
                self._started -= 1
                self._changed.notify()
            raise

    def close(self) -> None:
        with self._changed:
            idle, self._idle = self._idle, []
        for environment in idle:
            environment.close()
