"""Multi-agent wall time against (slowest agent + synthesis), with scripted model latencies (issue 4).

The model server answers each agent after its own delay and the synthesis after another; the
floor is the slowest agent's delay plus the synthesis delay, what a perfect fan-out would take.
Every request asks a new question, so nothing is answered from the cache.

Run: .venv/bin/python bench/multi_agent_bench.py (about 10 s). Needs Redis on 127.0.0.1:6379.
"""

import json
import os
import statistics
import sys
import time
from contextlib import redirect_stdout
from io import StringIO
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))

from harness import load_handler, service_env, services  # noqa: E402

from aether.agents.catalog import AGENTS  # noqa: E402
from aether.services.multi_agent import SYNTHESIS_PROMPT  # noqa: E402
from aether_local.events import http_api_event  # noqa: E402
from aether_local.lambda_host import LambdaContext  # noqa: E402
from aether_local.model_server import Reply  # noqa: E402

DELAYS_S = {"atlas": 0.30, "luna": 0.20, "quinn": 0.10}
SYNTHESIS_S = 0.10
RUNS = 15
PATH = "/api/ai/v4/chat/multi-agent"


def responder(body: dict[str, Any]) -> Reply | None:
    system = body["messages"][0]["content"]
    if system == SYNTHESIS_PROMPT:
        return Reply(content="merged", delay_s=SYNTHESIS_S)
    for name, delay in DELAYS_S.items():
        if system == AGENTS[name].system_prompt:
            return Reply(content=f"{name} answer", delay_s=delay)
    return None


def request(message: str) -> dict[str, Any]:
    body = json.dumps({"message": message, "agents": list(DELAYS_S)}).encode()
    return http_api_event(
        method="POST",
        path=PATH,
        query="",
        headers={"content-type": "application/json"},
        body=body,
        route_key=f"POST {PATH}",
        path_parameters={},
        claims={"sub": "bench-multi"},
    )


def main() -> None:
    with services() as (mongo_url, model_server), redirect_stdout(StringIO()):
        os.environ.update(service_env(mongo_url, model_server))
        model_server.responder = responder
        handler = load_handler(ROOT / "functions" / "multi_agent" / "app.py", "bench_multi_agent")
        handler(request("warm-up question"), LambdaContext("bench", 1024, 29))
        walls = []
        for i in range(RUNS):
            started = time.perf_counter()
            response = handler(request(f"question {i}: plan a launch"), LambdaContext("bench", 1024, 29))
            walls.append(time.perf_counter() - started)
            assert response["statusCode"] == 200, response
    floor = max(DELAYS_S.values()) + SYNTHESIS_S
    median = statistics.median(walls)
    print(f"Multi-agent, {len(DELAYS_S)} agents with model delays {DELAYS_S} s, synthesis {SYNTHESIS_S} s")
    print(f"  floor (slowest agent + synthesis)  {floor * 1000:7.1f} ms")
    ratio = median / floor
    print(f"  wall, median of {RUNS}               {median * 1000:7.1f} ms   {ratio:.3f}x  (target <= 1.15x)")
    print(f"  wall, max                          {max(walls) * 1000:7.1f} ms   {max(walls) / floor:.3f}x")
    print(f"  sequential would be                {(sum(DELAYS_S.values()) + SYNTHESIS_S) * 1000:7.1f} ms")


if __name__ == "__main__":
    main()
