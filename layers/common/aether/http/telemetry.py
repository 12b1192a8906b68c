"""Per-request telemetry: route latency and status, cold start, memory and CPU, the live minute,
and where the time went (the `Server-Timing` header, and the same figures in the request's EMF
line)."""

import time
from functools import cache
from typing import TYPE_CHECKING

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from aether.http.context import request_id_of
from aether.store.live import Minute, publish
from aether.telemetry import count, describe, flush_metrics, observe, take_users_with_usage, timing

if TYPE_CHECKING:
    import psutil

__all__ = ["API_PREFIX", "UNMATCHED", "RequestTelemetry", "route_of"]

API_PREFIX = "/api/ai/v4/"
_cold = True


UNMATCHED = "unmatched"


def route_of(scope: Scope) -> str:
    """The route as a low-cardinality label: the path template of the route that matched, without
    the API prefix; any request no route matched (an unknown path, a wrong method) is `unmatched`,
    so the labels are at most the routes + 1, whatever paths callers send."""
    path = getattr(scope.get("route"), "path", None)
    return path.removeprefix(API_PREFIX) if isinstance(path, str) else UNMATCHED


@cache
def _process() -> "psutil.Process":
    import psutil

    return psutil.Process()


def _memory_mb() -> float:
    return _process().memory_info().rss / 2**20


class RequestTelemetry:
    def __init__(self, app: ASGIApp, service: str) -> None:
        self.app = app
        self.service = service

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        global _cold
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started, cpu_started = time.perf_counter(), time.process_time()
        spans = timing.begin()
        status, streamed = 500, False

        async def watch(message: Message) -> None:
            nonlocal status, streamed
            if message["type"] == "http.response.start":
                status = message["status"]
                streamed = any(
                    name.lower() == b"content-type" and value.startswith(b"text/event-stream")
                    for name, value in message.get("headers", ())
                )
                # what is known before the first byte (a stream's model time is not, yet)
                found = timing.header(timing.figures(spans, started, time.perf_counter()))
                headers = [
                    *message.get("headers", ()),
                    (b"server-timing", found.encode()),
                    (b"x-request-id", request_id_of(scope).encode()),  # as in logs and error bodies
                ]
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, watch)
        finally:
            latency_ms = (time.perf_counter() - started) * 1000
            route = route_of(scope)
            count("Requests", route=route)
            observe("Latency", latency_ms, route=route)
            if status >= 500:
                count("Errors5xx", route=route)
            elif status >= 400:
                count("Errors4xx", route=route)
            cold, _cold = _cold, False
            if cold:
                count("ColdStart")
            memory_mb = _memory_mb()
            context = scope.get("aws.context")
            limit_mb = float(getattr(context, "memory_limit_in_mb", 0) or 0)
            observe("MemoryUsedMB", round(memory_mb, 1))
            if limit_mb:
                observe("MemoryUtilization", round(100 * memory_mb / limit_mb, 1))
            observe("CpuTime", (time.process_time() - cpu_started) * 1000)
            # A stream's time to its first token; an answer from the cache has no model call and
            # comes in one piece, so its first token is its whole latency.
            first_token = timing.first(spans, timing.FIRST_TOKEN)
            ttft_ms = (
                None
                if not streamed
                else latency_ms
                if first_token is None
                else (first_token - started) * 1000
            )
            await publish(
                Minute(
                    service=self.service,
                    route=route,
                    status=status,
                    latency_ms=latency_ms,
                    cold_start=cold,
                    memory_mb=round(memory_mb, 1),
                    memory_limit_mb=limit_mb,
                    ttft_ms=ttft_ms,
                    users_with_new_usage=take_users_with_usage(),
                )
            )
            found = timing.figures(spans, started, time.perf_counter())
            describe(status=status, request_id=request_id_of(scope), timing_ms=found)
            if "aws.event" not in scope:
                # Served over HTTP by the Lambda Web Adapter: no Lambda handler wraps this request
                # to flush its metrics (aether.http.app.lambda_handler does it under Mangum).
                flush_metrics(self.service)
