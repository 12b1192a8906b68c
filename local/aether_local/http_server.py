"""The local runner's HTTP servers' common ground: a threaded server with a normal listen backlog,
a request handler that speaks HTTP/1.1 without logging each request, and what an API served by
one has (its URL, its loop, its stop)."""

from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

__all__ = ["Handler", "Served", "Server"]


class Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 1024  # the listen backlog (socketserver's default, 5, refused bursts)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: Any) -> None:
        pass


class Served:
    """An API of the runner served by `httpd`: its URL, its loop, and its stop."""

    httpd: Server

    @property
    def url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host!s}:{port}"

    def serve_forever(self) -> None:
        self.httpd.serve_forever()

    def stop_serving(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
