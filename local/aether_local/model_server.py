"""A local OpenAI-compatible chat completions server standing in for Groq.

It serves `POST /openai/v1/chat/completions`, the path the groq SDK calls under its base_url.
Without a script it answers as a clearly labelled offline model; tests script each reply
(content, usage, delay, status, headers, hang), or set a responder that picks the reply from the
request (for concurrent requests, whose order is not fixed). Every response is written in one send
with TCP_NODELAY, so loopback latency figures are not distorted by Nagle's algorithm.
"""

import itertools
import json
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

__all__ = ["ModelServer", "Reply"]

_REASONS = {
    200: "OK",
    400: "Bad Request",
    429: "Too Many Requests",
    500: "Internal Server Error",
    503: "Service Unavailable",
}


@dataclass
class Reply:
    """One scripted answer. `content=None` means the default (labelled) answer."""

    content: str | None = None
    status: int = 200
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    delay_s: float = 0.0
    headers: dict[str, str] = field(default_factory=dict)
    hang: bool = False
    chunk_delay_s: float = 0.0  # a streamed answer: the pause before each chunk
    fail_after_chunks: int | None = None  # a streamed answer that breaks off with an error event
    hold_after_first_chunk: threading.Event | None = None  # a streamed answer paused until it is set
    finish_reason: str = "stop"
    tool_calls: list[dict[str, Any]] | None = None  # streamed as pieces: arguments a few bytes at a time
    system_fingerprint: str | None = None
    together: threading.Barrier | None = None  # answered once this many calls are in flight at once


def _pieces(calls: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Tool calls as a stream sends them: per call, its id, type and name with no arguments, then
    the arguments in pieces of a few bytes (the receiver must put them together)."""
    pieces = []
    for index, call in enumerate(calls):
        function = call["function"]
        head = {"index": index, "id": call["id"], "type": "function", "function": {"name": function["name"]}}
        pieces.append({**head, "function": {**head["function"], "arguments": ""}})
        arguments = function["arguments"]
        pieces += [
            {"index": index, "function": {"arguments": arguments[i : i + 7]}}
            for i in range(0, len(arguments), 7)
        ]
    return pieces


def _tokens(text: str) -> int:
    return max(1, len(text.split()))


class ModelServer:
    def __init__(self, label: str = "offline model") -> None:
        self.label = label
        self.requests: list[dict[str, Any]] = []
        self.model_lists = 0  # GET /models: the health check's call
        self.chunks_sent: list[int] = []  # per streamed answer, the deltas that reached the client
        self._script: deque[Reply] = deque()
        self.responder: Callable[[dict[str, Any]], Reply | None] | None = None
        self._lock = threading.Lock()
        self._released = threading.Event()
        self._ids = itertools.count(1)
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="model-server", daemon=True)

    @property
    def base_url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> "ModelServer":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._released.set()
        self._httpd.shutdown()
        self._httpd.server_close()

    def script(self, *replies: Reply) -> None:
        with self._lock:
            self._script.extend(replies)

    def reset(self) -> None:
        with self._lock:
            self._script.clear()
            self.requests.clear()
            self.chunks_sent.clear()
            self.model_lists = 0
            self.responder = None

    def _next(self, body: dict[str, Any]) -> Reply:
        """The responder's reply for this request if it gives one, else the next scripted reply."""
        with self._lock:
            self.requests.append(body)
            reply = self.responder(body) if self.responder else None
            if reply is not None:
                return reply
            return self._script.popleft() if self._script else Reply()

    def _answer(self, body: dict[str, Any], reply: Reply) -> tuple[int, dict[str, str], bytes]:
        if reply.together is not None:
            try:
                reply.together.wait()
            except threading.BrokenBarrierError:
                reply = Reply(status=503)  # the others never came: no concurrency
        if reply.hang:
            self._released.wait(600)
        elif reply.delay_s:
            time.sleep(reply.delay_s)
        if reply.status != 200:
            error = {"error": {"message": f"scripted status {reply.status}", "type": "scripted"}}
            return reply.status, reply.headers, json.dumps(error).encode()
        messages = body.get("messages") or [{}]
        question = str(messages[-1].get("content") or "")
        content = reply.content
        if content is None:
            content = (
                f"[{self.label}] This answer was not produced by a real model. You asked: {question[:200]}"
            )
        prompt_tokens = reply.prompt_tokens or sum(_tokens(str(m.get("content") or "")) for m in messages)
        completion_tokens = reply.completion_tokens or _tokens(content)
        payload = {
            "id": f"chatcmpl-local-{next(self._ids)}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": body.get("model", "unknown"),
            "system_fingerprint": reply.system_fingerprint,
            "choices": [
                {
                    "index": 0,
                    "message": {
                        "role": "assistant",
                        "content": None if reply.tool_calls and not reply.content else content,
                        **({"tool_calls": reply.tool_calls} if reply.tool_calls else {}),
                    },
                    "finish_reason": reply.finish_reason,
                }
            ],
            "usage": {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": completion_tokens,
                "total_tokens": prompt_tokens + completion_tokens,
            },
        }
        return 200, reply.headers, json.dumps(payload).encode()

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                if self.path.rstrip("/") != "/openai/v1/models":
                    self._send(404, {}, b'{"error":{"message":"not found"}}')
                    return
                models = {
                    "object": "list",
                    "data": [{"id": "local", "object": "model", "owned_by": server.label}],
                }
                with server._lock:
                    server.model_lists += 1
                self._send(200, {}, json.dumps(models).encode())

            def do_POST(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                raw = self.rfile.read(length)
                if self.path.rstrip("/") != "/openai/v1/chat/completions":
                    self._send(404, {}, b'{"error":{"message":"not found"}}')
                    return
                try:
                    body = json.loads(raw)
                except ValueError:
                    self._send(400, {}, b'{"error":{"message":"invalid JSON"}}')
                    return
                reply = server._next(body)
                if body.get("stream"):
                    self._stream(body, reply)
                    return
                self._send(*server._answer(body, reply))

            def _stream(self, body: dict[str, Any], reply: Reply) -> None:
                """Server-sent events as Groq sends them: deltas, then usage in x_groq, then [DONE]."""
                status, headers, payload = server._answer(body, reply)
                if status != 200:
                    self._send(status, headers, payload)
                    return
                answer = json.loads(payload)
                self.close_connection = True
                head = ["HTTP/1.1 200 OK", "content-type: text/event-stream", "connection: close"]
                self.wfile.write(("\r\n".join(head) + "\r\n\r\n").encode())
                base = {
                    "id": answer["id"],
                    "object": "chat.completion.chunk",
                    "created": answer["created"],
                    "model": answer["model"],
                }
                words = (
                    (answer["choices"][0]["message"]["content"] or "").split(" ")
                    if not reply.tool_calls
                    else []
                )
                sent = 0
                try:
                    for index, word in enumerate(words):
                        if reply.fail_after_chunks is not None and index == reply.fail_after_chunks:
                            self._event(
                                {"error": {"message": "scripted failure mid-stream", "type": "scripted"}}
                            )
                            return
                        if reply.chunk_delay_s:
                            time.sleep(reply.chunk_delay_s)
                        delta = word if index == 0 else " " + word
                        self._event(
                            {
                                **base,
                                "choices": [{"index": 0, "delta": {"content": delta}, "finish_reason": None}],
                            }
                        )
                        sent += 1
                        if index == 0 and reply.hold_after_first_chunk is not None:
                            reply.hold_after_first_chunk.wait(60)
                    for piece in _pieces(reply.tool_calls or []):
                        self._event(
                            {
                                **base,
                                "choices": [
                                    {"index": 0, "delta": {"tool_calls": [piece]}, "finish_reason": None}
                                ],
                            }
                        )
                    final = {
                        **base,
                        "system_fingerprint": reply.system_fingerprint,
                        "choices": [{"index": 0, "delta": {}, "finish_reason": reply.finish_reason}],
                        "x_groq": {"id": answer["id"], "usage": answer["usage"]},
                    }
                    self._event(final)
                    self.wfile.write(b"data: [DONE]\n\n")
                finally:
                    with server._lock:
                        server.chunks_sent.append(sent)

            def _event(self, data: dict[str, Any]) -> None:
                self.wfile.write(f"data: {json.dumps(data)}\n\n".encode())
                self.wfile.flush()

            def _send(self, status: int, headers: dict[str, str], body: bytes) -> None:
                head = [
                    f"HTTP/1.1 {status} {_REASONS.get(status, 'Status')}",
                    "content-type: application/json",
                    f"content-length: {len(body)}",
                ]
                head += [f"{k}: {v}" for k, v in headers.items()]
                self.wfile.write(("\r\n".join(head) + "\r\n\r\n").encode() + body)

        return Handler
