"""Runs a function's handler as Lambda does: one execution environment, one request at a time.

Each function gets its own thread, which imports the handler module once (the cold start) and
then runs every invocation, so Mangum's event loop and the clients bound to it live on as in a
warm Lambda environment.
"""

import importlib.util
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
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
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"lambda-{spec.name}")
        self._handler: Callable[[dict[str, Any], Any], dict[str, Any]] | None = None

    def _load(self) -> Callable[[dict[str, Any], Any], dict[str, Any]]:
        module_name, attr = self.spec.handler.rsplit(".", 1)
        path = self.spec.code_dir / f"{module_name}.py"
        spec = importlib.util.spec_from_file_location(f"aether_fn_{self.spec.name}", path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return getattr(module, attr)

    def _run(self, event: dict[str, Any]) -> dict[str, Any]:
        if self._handler is None:
            self._handler = self._load()
        context = LambdaContext(self.spec.name, self.spec.memory_mb, self.spec.timeout_s)
        return self._handler(event, context)

    def invoke(self, event: dict[str, Any]) -> dict[str, Any]:
        return self._thread.submit(self._run, event).result()

    def close(self) -> None:
        self._thread.shutdown(wait=False, cancel_futures=True)
