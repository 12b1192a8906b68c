"""`aether-local serve`: HTTP on loopback -> API Gateway v2 event -> the function's handler, in one of
its execution environments (aether_local.lambda_host), as many at once as `--environments` allows."""

import base64
import json
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from aether_local.devauth import DevAuth
from aether_local.events import http_api_event
from aether_local.http_server import Handler, Served, Server
from aether_local.lambda_host import FunctionHost
from aether_local.template import Route, read_template

__all__ = ["JWKS_PATH", "LocalApi"]

JWKS_PATH = "/.well-known/jwks.json"


class LocalApi(Served):
    def __init__(
        self,
        template: Path,
        auth: DevAuth,
        host: str = "127.0.0.1",
        port: int = 3000,
        environments: int = 4,
        authorizer_environment: dict[str, str] | None = None,
    ) -> None:
        self.routes = read_template(template)
        self.auth = auth
        self.hosts: dict[str, FunctionHost] = {}
        for route in self.routes:
            self.hosts.setdefault(route.function.name, FunctionHost(route.function, environments))
            if route.lambda_authorizer is not None:  # its checks need the runner's issuer and keys
                spec = route.lambda_authorizer
                self.hosts.setdefault(spec.name, FunctionHost(spec, environments, authorizer_environment))
        self.httpd = Server((host, port), self._handler_class())

    def find(self, method: str, path: str) -> tuple[Route, dict[str, str]] | None:
        for route in self.routes:
            params = route.match(method, path)
            if params is not None:
                return route, params
        return None

    def close(self) -> None:
        self.stop_serving()
        for host in self.hosts.values():
            host.close()

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        api = self

        class RequestHandler(Handler):
            def _handle(self) -> None:
                url = urlsplit(self.path)
                body = self.rfile.read(int(self.headers.get("content-length") or 0))
                if url.path == JWKS_PATH:  # the dev tokens' public key, as an identity provider serves it
                    keys = json.dumps(api.auth.jwks()).encode()
                    self._send(200, {"content-type": "application/json"}, keys)
                    return
                found = api.find(self.command, url.path)
                if found is None:
                    self._send(404, {"content-type": "application/json"}, b'{"message":"Not Found"}')
                    return
                route, params = found

                def request_event(
                    claims: dict[str, Any] | None, context: dict[str, Any] | None
                ) -> dict[str, Any]:
                    return http_api_event(
                        method=self.command,
                        path=url.path,
                        query=url.query,
                        headers=dict(self.headers.items()),
                        body=body,
                        route_key=route.route_key,
                        path_parameters=params,
                        claims=claims,
                        source_ip=self.client_address[0],
                        lambda_context=context,
                    )

                claims, context = None, None
                if route.lambda_authorizer is not None:
                    # As the HTTP API asks a Lambda authorizer with no identity source: every request.
                    asked = {**request_event(None, None), "type": "REQUEST", "identitySource": []}
                    asked["routeArn"] = (
                        f"arn:aws:execute-api:local:000000000000:local/$default/{self.command}{url.path}"
                    )
                    answer = api.hosts[route.lambda_authorizer.name].invoke(asked)
                    if answer.get("isAuthorized") is not True:
                        self._send(403, {"content-type": "application/json"}, b'{"message":"Forbidden"}')
                        return
                    context = answer.get("context") or {}
                else:
                    claims = api.auth.verify(self.headers.get("authorization"))
                    if route.authorized and claims is None:
                        self._send(401, {"content-type": "application/json"}, b'{"message":"Unauthorized"}')
                        return
                event = request_event(claims, context)
                response = api.hosts[route.function.name].invoke(event)
                if "errorMessage" in response:  # the function raised: the HTTP API's own answer
                    self._send(
                        500, {"content-type": "application/json"}, b'{"message":"Internal Server Error"}'
                    )
                    return
                payload = response.get("body") or ""
                data = base64.b64decode(payload) if response.get("isBase64Encoded") else payload.encode()
                headers = dict(response.get("headers") or {})
                self._send(
                    int(response.get("statusCode", 200)), headers, data, tuple(response.get("cookies") or ())
                )

            do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _handle

            def _send(
                self, status: int, headers: dict[str, str], body: bytes, cookies: tuple[str, ...] = ()
            ) -> None:
                lines = [f"HTTP/1.1 {status} {self.responses.get(status, ('',))[0]}"]
                headers = {k.lower(): v for k, v in headers.items()}
                headers["content-length"] = str(len(body))
                lines += [f"{k}: {v}" for k, v in headers.items()]
                lines += [f"set-cookie: {c}" for c in cookies]
                self.wfile.write(("\r\n".join(lines) + "\r\n\r\n").encode() + body)

        return RequestHandler
