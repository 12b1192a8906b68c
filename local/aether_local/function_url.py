"""A function behind a Lambda function URL with the Web Adapter: its start script serves the app.

On AWS the adapter runs the function's handler (`run.sh`), waits until the app answers (its
readiness check), then forwards each request to the app over loopback HTTP and, with the URL's
invoke mode RESPONSE_STREAM, streams the response back as the app writes it. Locally the client
talks to the app directly: the same script, the same app, tokens arriving as they are produced.
"""

import os
import socket
import subprocess
import sys
import time
from contextlib import suppress
from pathlib import Path

from aether_local.template import FunctionSpec

__all__ = ["FunctionUrl"]


class FunctionUrl:
    def __init__(self, spec: FunctionSpec, port: int, environment: dict[str, str]) -> None:
        self.spec = spec
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        bin_dir = str(Path(sys.executable).parent)  # run.sh's python3 is this interpreter
        env = {**os.environ, **environment, "PORT": str(port)}
        env["PATH"] = f"{bin_dir}{os.pathsep}{env.get('PATH', '')}"
        # The app's prints (logs, EMF lines) go to stderr, as the workers' do: the runner's stdout
        # is for its own lines, and a reader that stops reading it must not stall the app.
        self._process = subprocess.Popen(
            ["bash", spec.handler], cwd=spec.code_dir, env=env, stdout=sys.stderr
        )

    def wait_ready(self, timeout_s: float = 30) -> None:
        """Block until the app accepts connections, as the adapter's readiness check does."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            with suppress(OSError), socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                return
            with suppress(subprocess.TimeoutExpired):
                code = self._process.wait(0.05)
                raise RuntimeError(f"the {self.spec.name} function URL's app exited with {code}")
        raise RuntimeError(f"the {self.spec.name} function URL's app did not start in {timeout_s:.0f} s")

    def close(self) -> None:
        self._process.terminate()
        with suppress(subprocess.TimeoutExpired):
            self._process.wait(10)
