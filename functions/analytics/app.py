"""analytics function: the caller's own usage."""

from mangum import Mangum

from aether.http import API_PREFIX, CurrentPrincipal, create_app, not_built

app = create_app("analytics")


@app.get(f"{API_PREFIX}/analytics/user")
async def user_analytics(principal: CurrentPrincipal) -> None:
    not_built("user analytics")


handler = Mangum(app, lifespan="off")
