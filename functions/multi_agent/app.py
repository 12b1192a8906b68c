"""multi_agent function: several agents in parallel and one synthesis."""

from aether.http import API_PREFIX, CurrentPrincipal, RequestInvocation, create_app, lambda_handler
from aether.services import multi_agent as service

app = create_app("multi_agent")


@app.post(f"{API_PREFIX}/chat/multi-agent")
async def multi_agent(
    body: service.MultiAgentRequest, principal: CurrentPrincipal, invocation: RequestInvocation
) -> service.MultiAgentAnswer:
    return await service.multi_agent(body, principal, invocation)


handler = lambda_handler(app)
