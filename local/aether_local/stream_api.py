"""`aether-local serve`'s stream API: the template's REST API (StreamApi), as API Gateway runs it.

On AWS, API Gateway answers 403 for a path or method the API does not have and 401 when the
Authorization header is missing or does not match the authorizer's identityValidationExpression;
else it runs the token authorizer function (its answer kept per token for
authorizerResultTtlInSeconds), answers 401 when it raises "Unauthorized" and 403 when it denies,
and otherwise invokes the route's function with InvokeWithResponseStream. That function runs the
app under the Lambda Web Adapter: the adapter runs the function's handler (`run.sh`), waits until
the app answers (its readiness check), forwards each request to it over loopback HTTP and streams
the response back as the app writes it. Locally the same: the authorizer runs in execution
environments of its own (aether_local.lambda_host), the app is the same script on a loopback port,
and each piece of its response is passed on as it arrives.
"""

import http.client
import os
import re
import socket
import subprocess
import sys
import time
from contextlib import suppress
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from threading import Lock
from urllib.parse import urlsplit

from aether_local.http_server import Handler, Served, Server
from aether_local.lambda_host import FunctionHost
from aether_local.template import FunctionSpec, Route, StreamApiSpec

__all__ = ["AdapterApp", "LocalStreamApi"]

_HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade", "host"}


class AdapterApp:
    """A function's web app as the Lambda Web Adapter runs it: its start script on a port."""

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
                raise RuntimeError(f"the {self.spec.name} app exited with {code}")
        raise RuntimeError(f"the {self.spec.name} app did not start in {timeout_s:.0f} s")

    def close(self) -> None:
        self._process.terminate()
        with suppress(subprocess.TimeoutExpired):
            self._process.wait(10)


class LocalStreamApi(Served):
    def __init__(
        self,
        spec: StreamApiSpec,
        app: AdapterApp,
        authorizer_environment: dict[str, str],
        host: str = "127.0.0.1",
        port: int = 3001,
    ) -> None:
        self.spec = spec
        self.app = app
        self.authorizer = FunctionHost(spec.authorizer, environments=2, environment=authorizer_environment)
        self._token_pattern = re.compile(spec.token_pattern)
        self._allowed: dict[str, float] = {}  # token -> when API Gateway's cached answer lapses
        self._allowed_lock = Lock()
        self.httpd = Server((host, port), self._handler_class())

    def find(self, method: str, path: str) -> Route | None:
        return next((route for route in self.spec.routes if route.match(method, path) is not None), None)

    def authorize(self, authorization: str, method: str, path: str) -> int | None:
        """None when the token is allowed, else the status API Gateway answers (401 or 403)."""
        if not self._token_pattern.fullmatch(authorization):
            return 401
        with self._allowed_lock:
            if self._allowed.get(authorization, 0.0) > time.monotonic():
                return None
        method_arn = f"arn:aws:execute-api:local:000000000000:local/stream/{method}{path}"
        event = {"type": "TOKEN", "authorizationToken": authorization, "methodArn": method_arn}
        answer = self.authorizer.invoke(event)
        if answer.get("errorMessage") == "Unauthorized":
            return 401
        statements = answer.get("policyDocument", {}).get("Statement", []) if "principalId" in answer else []
        if not any(s.get("Effect") == "Allow" and _covers(s.get("Resource"), method_arn) for s in statements):
            return 403
        with self._allowed_lock:
            self._allowed[authorization] = time.monotonic() + self.spec.cache_ttl_s
        return None

    def close(self) -> None:
        self.stop_serving()
        self.authorizer.close()
        self.app.close()

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        api = self

        class RequestHandler(Handler):
            def _handle(self) -> None:
                path = urlsplit(self.path).path
                body = self.rfile.read(int(self.headers.get("content-length") or 0))
                route = api.find(self.command, path)
                if route is None:
                    self._answer(403, b'{"message":"Missing Authentication Token"}')
                    return
                if route.authorized:
                    refused = api.authorize(self.headers.get("authorization") or "", self.command, path)
                    if refused == 401:
                        self._answer(401, b'{"message":"Unauthorized"}')
                        return
                    if refused == 403:
                        self._answer(403, b'{"message":"User is not authorized to access this resource"}')
                        return
                self._forward(body)

            do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _handle

            def _answer(self, status: int, body: bytes) -> None:
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def _forward(self, body: bytes) -> None:
                """To the app and back, each piece of the response passed on as it arrives."""
                upstream = http.client.HTTPConnection(
                    "127.0.0.1", api.app.port, timeout=api.app.spec.timeout_s
                )
                try:
                    headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP_BY_HOP}
                    try:
                        upstream.request(self.command, self.path, body=body, headers=headers)
                        response = upstream.getresponse()
                    except (OSError, http.client.HTTPException):  # the app is gone: the gateway's 502
                        self._answer(502, b'{"message":"Internal server error"}')
                        return
                    self.send_response_only(response.status)  # the app's own date and server headers follow
                    sized = response.getheader("content-length") is not None
                    for name, value in response.getheaders():
                        if name.lower() not in _HOP_BY_HOP:
                            self.send_header(name, value)
                    if not sized:
                        self.send_header("transfer-encoding", "chunked")
                    self.end_headers()
                    while piece := response.read1(65536):
                        self.wfile.write(piece if sized else b"%x\r\n%s\r\n" % (len(piece), piece))
                        self.wfile.flush()
                    if not sized:
                        self.wfile.write(b"0\r\n\r\n")
                finally:
                    upstream.close()

        return RequestHandler


def _covers(resource: object, method_arn: str) -> bool:
    """Whether an IAM policy's Resource (one ARN or a list, `*` as a wildcard) covers the method."""
    resources = resource if isinstance(resource, list) else [resource]
    return any(
        isinstance(r, str) and re.fullmatch(re.escape(r).replace(r"\*", ".*"), method_arn) for r in resources
    )
