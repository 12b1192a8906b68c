"""multi_agent function: several agents in parallel and one synthesis."""

from aether.http import API_PREFIX, CurrentPrincipal, create_app, lambda_handler, not_built

app = create_app("multi_agent")


@app.post(f"{API_PREFIX}/chat/multi-agent")
async def multi_agent(principal: CurrentPrincipal) -> None:
    not_built("multi-agent chat")


handler = lambda_handler(app)
