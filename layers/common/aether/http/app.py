"""The FastAPI app every function builds on."""

from fastapi import FastAPI

from aether.errors import NotImplementedYet
from aether.http.errors import install_error_handlers
from aether.http.limits import BodyLimit

__all__ = ["API_PREFIX", "create_app", "not_built"]

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
