"""analytics function: the caller's own usage."""

from typing import Annotated

from fastapi import Query
from fastapi.exceptions import RequestValidationError

from aether.http import API_PREFIX, CurrentPrincipal, create_app, lambda_handler
from aether.services import analytics
from aether.settings import get_settings

app = create_app("analytics")


@app.get(f"{API_PREFIX}/analytics/user")
async def user_analytics(
    principal: CurrentPrincipal,
    days: Annotated[int, Query(ge=1, description="at most ANALYTICS_MAX_DAYS (365)")] = 30,
) -> analytics.UserAnalytics:
    limit = get_settings().analytics_max_days
    if days > limit:
        raise RequestValidationError(
            [{"type": "less_than_equal", "loc": ("query", "days"), "msg": f"must be at most {limit}"}]
        )
    return await analytics.user_analytics(principal, days)


handler = lambda_handler(app)
