"""dashboard function: operators' view and health checks."""

from aether.http import API_PREFIX, AdminPrincipal, create_app, lambda_handler, not_built

app = create_app("dashboard")


@app.get(f"{API_PREFIX}/performance/dashboard")
async def performance_dashboard(principal: AdminPrincipal) -> None:
    not_built("the performance dashboard")


@app.get(f"{API_PREFIX}/health/detailed")
async def health_detailed() -> None:
    not_built("detailed health checks")


handler = lambda_handler(app)
