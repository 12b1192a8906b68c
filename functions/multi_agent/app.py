"""multi_agent function: several agents in parallel and one synthesis."""

from mangum import Mangum

from aether.http import API_PREFIX, CurrentPrincipal, create_app, not_built

app = create_app("multi_agent")


@app.post(f"{API_PREFIX}/chat/multi-agent")
async def multi_agent(principal: CurrentPrincipal) -> None:
    not_built("multi-agent chat")


handler = Mangum(app, lifespan="off")
