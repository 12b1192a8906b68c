"""The FastAPI app every function builds on."""

import sys
from collections.abc import Callable
from typing import Any

from aws_lambda_powertools.logging import correlation_paths
from fastapi import FastAPI
from mangum import Mangum

from aether.http.errors import install_error_handlers
from aether.http.limits import BodyLimit
from aether.http.telemetry import RequestTelemetry
from aether.settings import get_settings
from aether.telemetry import flush_metrics, logger

__all__ = ["API_PREFIX", "create_app", "lambda_handler"]

API_PREFIX = "/api/ai/v4"

# FastAPI (0.165) imports pydantic.v1 (about 40 ms, a quarter of its own import) while building
# a route with a body or query parameter, only to refuse pydantic v1 models, which it no longer
# supports. Nothing here uses them: marked absent, the check answers "not a v1 model" at once.
sys.modules.setdefault("pydantic.v1", None)  # type: ignore[arg-type]


def create_app(service: str) -> FastAPI:
    """An app with Aether's error model and input limits; routes are added by the function."""
    app = FastAPI(title=f"Aether {service}", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.service = service
    install_error_handlers(app)
    app.add_middleware(BodyLimit)
    app.add_middleware(RequestTelemetry, service=service)  # outermost: it sees every status
    return app


def lambda_handler(app: FastAPI) -> Callable[[dict[str, Any], Any], dict[str, Any]]:
    """The Lambda entry point for `app`: Mangum, logs with the request id, this invocation's metrics.

    Tracing (Powertools Tracer, which loads the X-Ray SDK) is set up on the first invocation and
    only when POWERTOOLS_TRACE_DISABLED is false, so it costs nothing when off.
    """
    asgi = Mangum(app, lifespan="off")
    service: str = app.state.service

    @logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
    def invoke(event: dict[str, Any], context: Any) -> dict[str, Any]:
        logger.append_keys(service=service)  # locally one process hosts every function
        try:
            return asgi(event, context)
        finally:
            flush_metrics(service)

    entry: list[Callable[[dict[str, Any], Any], dict[str, Any]]] = []

    def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        if not entry:
            entry.append(invoke if get_settings().powertools_trace_disabled else _traced(service, invoke))
        return entry[0](event, context)

    return handler


def _traced(
    service: str, invoke: Callable[[dict[str, Any], Any], dict[str, Any]]
) -> Callable[[dict[str, Any], Any], dict[str, Any]]:
    from aws_lambda_powertools import Tracer

    return Tracer(service=service).capture_lambda_handler(invoke)
