"""analytics function: the caller's own usage."""

from typing import Annotated

from fastapi import Query

from aether.http import API_PREFIX, CurrentPrincipal, create_app, lambda_handler
from aether.services import analytics

app = create_app("analytics")


@app.get(f"{API_PREFIX}/analytics/user")
async def user_analytics(
    principal: CurrentPrincipal, days: Annotated[int, Query(ge=1, le=365)] = 30
) -> analytics.UserAnalytics:
    return await analytics.user_analytics(principal, days)


handler = lambda_handler(app)
