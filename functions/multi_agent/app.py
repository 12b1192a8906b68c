"""multi_agent function: several agents in parallel and one synthesis."""

from functools import partial

from aether.http import API_PREFIX, CurrentPrincipal, RequestInvocation, create_app, lambda_handler
from aether.idempotency import IdempotencyKey, once
from aether.services import multi_agent as service

app = create_app("multi_agent")


@app.post(f"{API_PREFIX}/chat/multi-agent")
async def multi_agent(
    body: service.MultiAgentRequest,
    principal: CurrentPrincipal,
    invocation: RequestInvocation,
    key: IdempotencyKey = None,
) -> service.MultiAgentAnswer:
    answer = partial(service.multi_agent, body, principal, invocation)
    return await once(principal, invocation, key, "chat/multi-agent", body, answer, service.MultiAgentAnswer)


handler = lambda_handler(app)
