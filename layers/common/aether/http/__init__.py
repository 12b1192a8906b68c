"""The shared FastAPI app factory, auth, error model and input limits."""

from aether.core import Invocation, Principal
from aether.http.app import API_PREFIX, create_app, lambda_handler
from aether.http.auth import AdminPrincipal, CurrentPrincipal
from aether.http.context import RequestInvocation

__all__ = [
    "API_PREFIX",
    "AdminPrincipal",
    "CurrentPrincipal",
    "Invocation",
    "Principal",
    "RequestInvocation",
    "create_app",
    "lambda_handler",
]
