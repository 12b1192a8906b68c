"""analytics function: the caller's own usage."""

from aether.http import API_PREFIX, CurrentPrincipal, create_app, lambda_handler, not_built

app = create_app("analytics")


@app.get(f"{API_PREFIX}/analytics/user")
async def user_analytics(principal: CurrentPrincipal) -> None:
    not_built("user analytics")


handler = lambda_handler(app)
