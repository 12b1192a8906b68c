"""Time to first token through `aether-local serve`, against the model's own first-token delay (issue 6).

The scripted model sends its response headers at once, then each of its chunks after a pause of
FIRST_TOKEN_S. The floor is that model's first token as the same client reads it straight from
the model server (the pause plus the stand-in's own HTTP cost), measured in the same run. Through
Aether the client measures from sending the request to reading the first `delta` event, on the
stream API and, for contrast, on the HTTP API port (which answers whole). Every
request asks a new question, so nothing is answered from the cache.

Run: .venv/bin/python bench/stream_ttft.py (about 30 s). Needs Redis on 127.0.0.1:6379.
"""

import json
import statistics
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))

from harness import service_env, services  # noqa: E402
from load import local_api  # noqa: E402

from aether_local.model_server import Reply  # noqa: E402

FIRST_TOKEN_S = 0.100
WORDS = 5  # the answer's chunks; the whole answer takes WORDS x FIRST_TOKEN_S
RUNS = 20
STREAM = "/api/ai/v4/chat/stream"
SERVER_LOG = ROOT / "bench" / "results" / "stream_ttft-serve.log"


def first_token_s(client: httpx.Client, url: str, token: str) -> float:
    body = {"message": f"Explain streaming, take {uuid.uuid4().hex}"}
    started = time.perf_counter()
    with client.stream(
        "POST", url + STREAM, json=body, headers={"authorization": f"Bearer {token}"}
    ) as response:
        assert response.status_code == 200, response.read()
        lines = response.iter_lines()
        for line in lines:
            if line.startswith("data: ") and "content" in json.loads(line[6:]):
                elapsed = time.perf_counter() - started
                for _ in lines:  # the rest of the answer, so the turn completes
                    pass
                return elapsed
    raise AssertionError("no delta event")


def model_first_token_s(client: httpx.Client, base_url: str) -> float:
    """The floor: the scripted model's own first token, read by the same client straight from it."""
    body = {"model": "floor", "messages": [{"role": "user", "content": "hi"}], "stream": True}
    started = time.perf_counter()
    with client.stream("POST", base_url + "/openai/v1/chat/completions", json=body) as response:
        lines = response.iter_lines()
        for line in lines:
            if line.startswith("data: "):
                elapsed = time.perf_counter() - started
                for _ in lines:
                    pass
                return elapsed
    raise AssertionError("no chunk")


def summary(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {
        "median_ms": statistics.median(ordered) * 1000,
        "p95_ms": ordered[int(0.95 * (len(ordered) - 1))] * 1000,
        "max_ms": ordered[-1] * 1000,
    }


def main() -> None:
    with services() as (mongo_url, model_server):
        model_server.responder = lambda body: Reply(
            content=" ".join(f"word{i}" for i in range(WORDS)), chunk_delay_s=FIRST_TOKEN_S
        )
        env = service_env(mongo_url, model_server)
        with local_api(env, 1, SERVER_LOG) as api, httpx.Client(timeout=30) as client:
            model_first_token_s(client, model_server.base_url)
            results: dict[str, Any] = {
                "model itself": summary(
                    [model_first_token_s(client, model_server.base_url) for _ in range(RUNS)]
                )
            }
            for name, url in (("stream API", api.stream_url), ("HTTP API", api.url)):
                first_token_s(client, url, api.tokens[0])  # warm-up: the cold start of each path
                results[name] = summary([first_token_s(client, url, api.tokens[0]) for _ in range(RUNS)])
    delay_ms = FIRST_TOKEN_S * 1000
    floor_ms = results["model itself"]["median_ms"]
    print(f"Time to first token through aether-local serve, {RUNS} requests per path (cache misses)")
    print(
        f"  the model's scripted first-token delay {delay_ms:.0f} ms; whole answer {WORDS * delay_ms:.0f} ms"
    )
    for name, figures in results.items():
        print(
            f"  {name:<13} median {figures['median_ms']:7.1f} ms"
            f" (floor + {figures['median_ms'] - floor_ms:5.1f})"
            f"  p95 {figures['p95_ms']:7.1f}  max {figures['max_ms']:7.1f}"
        )
    over = results["stream API"]["median_ms"] - floor_ms
    print(f"  stream API: first token at the model's own + {over:.1f} ms (target <= + 10 ms)")


if __name__ == "__main__":
    main()
