"""Concurrency of the local runner (issue 17): CLIENTS clients at once on both of its ports.

The script starts bench/load.py's services (mongoeco, and the scripted model server as Groq: each
answer after 50-300 ms, streamed in 30 chunks 10 ms apart) and `aether-local serve`, once per
`--environments` value in ENVIRONMENTS (1: one process per function, as the runner was; 4: its
default). For each, CLIENTS clients (one dev identity each) send ROUNDS `chat/stream` requests
back to back, all at once: through the HTTP API port (the events whole, as API Gateway's HTTP
API returns them) and through the stream API, which are read to the end. Reported
per port: requests, connection errors (a refused or reset connection, a timeout), 5xx and
streamed `error` events, p50 and p95 of the whole request, and the chat function's execution
environments at the end (worker processes).

Run: .venv/bin/python bench/local_concurrency.py (about 1 minute). Needs Redis on
127.0.0.1:6379; uses and flushes database 11. Figures go to bench/results/local_concurrency.json.
"""

import asyncio
import json
import sys
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))

from harness import code_version, machine  # noqa: E402
from load import Api, load_services, local_api, percentile  # noqa: E402

CLIENTS = 50
ROUNDS = 2
ENVIRONMENTS = (1, 4)
TIMEOUT_S = 120.0
RESULTS = ROOT / "bench" / "results" / "local_concurrency.json"
LOG = ROOT / "bench" / "results" / "local_concurrency-serve.log"
STREAM = "/api/ai/v4/chat/stream"


async def client_rounds(client: httpx.AsyncClient, base: str, token: str) -> list[tuple[str, float]]:
    """ROUNDS streams, one after the other: (outcome, seconds) each."""
    outcomes = []
    for _ in range(ROUNDS):
        started = time.monotonic()
        body = {"message": f"Explain idempotency keys ({uuid.uuid4().hex[:8]})"}
        try:
            async with client.stream(
                "POST", base + STREAM, json=body, headers={"authorization": f"Bearer {token}"}
            ) as response:
                text = (await response.aread()).decode()
            outcome = str(response.status_code)
            if response.status_code == 200 and "event: error" in text:
                outcome = "error event"
        except httpx.HTTPError as error:
            outcome = f"connection: {type(error).__name__}"
        outcomes.append((outcome, time.monotonic() - started))
    return outcomes


async def at_once(base: str, tokens: list[str]) -> dict[str, Any]:
    limits = httpx.Limits(max_connections=CLIENTS, max_keepalive_connections=CLIENTS)
    async with httpx.AsyncClient(timeout=TIMEOUT_S, limits=limits) as client:
        started = time.monotonic()
        results = await asyncio.gather(*(client_rounds(client, base, token) for token in tokens))
        elapsed = time.monotonic() - started
    rows = [row for rounds in results for row in rounds]
    ordered = sorted(seconds for _, seconds in rows)
    outcomes = Counter(outcome for outcome, _ in rows)
    return {
        "requests": len(rows),
        "outcomes": dict(sorted(outcomes.items())),
        "connection_errors": sum(n for o, n in outcomes.items() if o.startswith("connection")),
        "server_errors": sum(n for o, n in outcomes.items() if o == "error event" or o.startswith("5")),
        "p50_ms": round(percentile(ordered, 0.50) * 1000, 1),
        "p95_ms": round(percentile(ordered, 0.95) * 1000, 1),
        "seconds": round(elapsed, 1),
    }


def chat_environments(api: Api) -> int:
    workers = [p.cmdline() for p in psutil.Process(api.pid).children(recursive=True)]
    return sum(
        1 for c in workers if "aether_local.worker" in c and c[c.index("aether_local.worker") + 3] == "chat"
    )


async def warm_up(api: Api) -> None:
    async with httpx.AsyncClient(timeout=TIMEOUT_S) as client:
        for base in (api.url, api.stream_url):
            body = {"message": "warm up"}
            headers = {"authorization": f"Bearer {api.tokens[0]}"}
            (await client.post(base + STREAM, json=body, headers=headers)).raise_for_status()


def main() -> None:
    result: dict[str, Any] = {
        "machine": machine(),
        "code": code_version(),
        "clients": CLIENTS,
        "rounds": ROUNDS,
    }
    with load_services() as env:
        for environments in ENVIRONMENTS:
            with local_api(env, CLIENTS, LOG, environments) as api:
                asyncio.run(warm_up(api))
                row: dict[str, Any] = {}
                for port, base in (("HTTP API", api.url), ("stream API", api.stream_url)):
                    row[port] = asyncio.run(at_once(base, api.tokens))
                row["chat environments at the end"] = chat_environments(api)
                result[f"environments={environments}"] = row
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(f"\nLocal runner at {result['code']}: {CLIENTS} clients at once, {ROUNDS} streams each, per port")
    print(f"  machine: {result['machine']}")
    for name, row in result.items():
        if not name.startswith("environments="):
            continue
        print(f"  {name} (chat environments at the end: {row['chat environments at the end']})")
        for port in ("HTTP API", "stream API"):
            f = row[port]
            print(
                f"    {port:<13} {f['requests']} requests, connection errors {f['connection_errors']}, "
                f"5xx/error events {f['server_errors']}, p50 {f['p50_ms']} ms, p95 {f['p95_ms']} ms, "
                f"{f['seconds']} s; {f['outcomes']}"
            )
    print(f"\nwritten to {RESULTS.relative_to(ROOT)}")
    default = result[f"environments={ENVIRONMENTS[-1]}"]
    if any(
        default[port]["connection_errors"] or default[port]["server_errors"]
        for port in ("HTTP API", "stream API")
    ):
        sys.exit(1)


if __name__ == "__main__":
    main()
