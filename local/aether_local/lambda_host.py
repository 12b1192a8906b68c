"""Runs a function's handler as Lambda does: its own execution environment, one request at a time.

Each function host is a child process (`aether_local.worker`) started on the first invocation
(the cold start); it keeps the imported module, Mangum's event loop and the clients bound to it
for the warm invocations that follow, and shares nothing with the other functions' processes.
"""

import json
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


class FunctionHost:
    def __init__(self, spec: FunctionSpec) -> None:
        self.spec = spec
        self._lock = threading.Lock()  # one request at a time, as in a Lambda environment
        self._process: subprocess.Popen[str] | None = None

    def _start(self) -> subprocess.Popen[str]:
        spec = self.spec
        args = [str(spec.code_dir), spec.handler, spec.name, str(spec.memory_mb), str(spec.timeout_s)]
        return subprocess.Popen(
            [sys.executable, "-m", "aether_local.worker", *args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            bufsize=1,
        )

    def invoke(self, event: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            if self._process is None:
                self._process = self._start()
            assert self._process.stdin is not None and self._process.stdout is not None
            self._process.stdin.write(json.dumps(event) + "\n")
            self._process.stdin.flush()
            line = self._process.stdout.readline()
            if not line:
                self._process = None
                raise RuntimeError(f"the {self.spec.name} function's process exited")
            response: dict[str, Any] = json.loads(line)
            return response

    def close(self) -> None:
        with self._lock:
            if self._process is not None:
                assert self._process.stdin is not None
                self._process.stdin.close()
                self._process.wait(10)
                self._process = None
