"""The floor for the benchmarks: a one-route FastAPI + Mangum app that echoes the request body."""

from fastapi import FastAPI, Request
from mangum import Mangum

app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)


@app.post("/api/ai/v4/chat/optimized")
async def echo(request: Request) -> dict[str, str]:
    return {"echo": (await request.body()).decode()}


handler = Mangum(app, lifespan="off")
