"""dashboard function: operators' view and health checks."""

from typing import Any, Literal

from fastapi import Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse

from aether.http import API_PREFIX, AdminPrincipal, CurrentPrincipal, create_app, lambda_handler
from aether.http.session import signed_in, signed_out
from aether.services import dashboard as service
from aether.services.health import health

app = create_app("dashboard")


@app.get(f"{API_PREFIX}/performance/dashboard", response_model=None)
async def performance_dashboard(
    principal: AdminPrincipal,
    request: Request,
    window: int = Query(15, ge=1, le=10080, description="minutes, at most 7 days (per hour beyond 24 hours)"),
    source: Literal["redis", "cloudwatch"] = "redis",
    format: Literal["json", "html"] = "json",
    access_token: str | None = Query(None, description="a sign-in link's token, exchanged for a cookie"),
    sign_out: bool = Query(False, description="end the browser's session: its cookie is deleted"),
) -> dict[str, Any] | HTMLResponse | RedirectResponse:
    if access_token is not None:
        return signed_in(request, access_token)
    if sign_out:
        return signed_out(request)
    view = await service.dashboard(window, source)
    return HTMLResponse(service.render_html(view)) if format == "html" else view


@app.get(f"{API_PREFIX}/health/detailed")
async def health_detailed(principal: CurrentPrincipal) -> JSONResponse:
    status, body = await health(details=principal.is_admin)
    return JSONResponse(body, status_code=status)


handler = lambda_handler(app)
