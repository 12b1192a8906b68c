"""The FastAPI app every function builds on."""

from collections.abc import Callable
from typing import Any

from fastapi import FastAPI
from mangum import Mangum

from aether.errors import NotImplementedYet
from aether.http.errors import install_error_handlers
from aether.http.limits import BodyLimit
from aether.telemetry import flush_metrics

__all__ = ["API_PREFIX", "create_app", "lambda_handler", "not_built"]

API_PREFIX = "/api/ai/v4"


def create_app(service: str) -> FastAPI:
    """An app with Aether's error model and input limits; routes are added by the function."""
    app = FastAPI(title=f"Aether {service}", docs_url=None, redoc_url=None, openapi_url=None)
    install_error_handlers(app)
    app.add_middleware(BodyLimit)
    return app


def not_built(feature: str) -> None:
    """Body of a route whose feature has not landed yet: a clear 501."""
    raise NotImplementedYet(f"{feature} is not available yet in this version of Aether")


def lambda_handler(app: FastAPI) -> Callable[[dict[str, Any], Any], dict[str, Any]]:
    """The Lambda entry point for `app`: Mangum, then this invocation's metrics as one EMF line."""
    asgi = Mangum(app, lifespan="off")

    def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        try:
            return asgi(event, context)
        finally:
            flush_metrics()

    return handler
