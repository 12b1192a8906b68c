"""A request's Invocation (aether.core): API Gateway's request id and the deadline Lambda's
remaining time and API Gateway's limit allow."""

import time
import uuid
from collections.abc import MutableMapping
from typing import Annotated, Any

from fastapi import Depends, Request

from aether.core import Invocation
from aether.settings import get_settings

__all__ = ["RequestInvocation", "request_id_of"]


def request_id_of(scope: MutableMapping[str, Any]) -> str:
    """API Gateway's request id (the `apigw-requestid` the caller sees), else a fresh one."""
    event = scope.get("aws.event") or {}
    request_id = event.get("requestContext", {}).get("requestId")
    if not request_id:
        state = scope.setdefault("state", {})
        request_id = state.setdefault("request_id", uuid.uuid4().hex)
    return str(request_id)


async def _invocation(request: Request) -> Invocation:
    settings = get_settings()
    budget_ms = settings.request_timeout_ms
    context = request.scope.get("aws.context")
    if context is not None:
        budget_ms = min(budget_ms, context.get_remaining_time_in_millis())
    deadline = time.monotonic() + (budget_ms - settings.deadline_margin_ms) / 1000
    return Invocation(request_id=request_id_of(request.scope), deadline=deadline)


RequestInvocation = Annotated[Invocation, Depends(_invocation)]
