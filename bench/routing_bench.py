"""The router's cost (issue 12): one routing decision against a dict-lookup floor, the weights'
size and first load, and the chat module's import against a bare FastAPI + Mangum import.

Its accuracy is measured by `aether-local router evaluate` on the held-out sources (BENCHMARKS.md);
this script times it on the team's own prompts plus long pasted texts, which need no data set.

Run: .venv/bin/python bench/routing_bench.py (about 30 s, no services).
"""

import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

from aether.agents.router import WEIGHTS, Weights, route, weights

ROOT = Path(__file__).resolve().parent.parent
OWN = ROOT / "bench" / "router_eval.jsonl"
ROUNDS = 30
IMPORT_SAMPLES = 9


def messages() -> list[str]:
    own = [json.loads(line)["prompt"] for line in OWN.read_text().splitlines() if line.strip()]
    pasted = "The committee met on Tuesday to discuss the budget for next year. " * 60  # ~4,000 chars
    return [*own, f"Summarise this:\n\n{pasted}", f"{pasted}\n\nWhat did they decide?"]


def percentile(samples: list[float], p: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(p * len(ordered)))]


def decision_us(texts: list[str]) -> tuple[list[float], list[float]]:
    """Microseconds of one route() call and of a dict lookup of the same text, interleaved."""
    table = {text: len(text) for text in texts}
    decisions, floor = [], []
    for _ in range(ROUNDS):
        for text in texts:
            started = time.perf_counter_ns()
            route(text)
            decisions.append((time.perf_counter_ns() - started) / 1000)
            started = time.perf_counter_ns()
            table.get(text)
            floor.append((time.perf_counter_ns() - started) / 1000)
    return decisions, floor


def import_ms(code: str) -> float:
    output = subprocess.run(
        [
            sys.executable,
            "-c",
            f"import time; t = time.perf_counter(); {code}; print(time.perf_counter() - t)",
        ],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
    ).stdout
    return float(output) * 1000


def main() -> None:
    started = time.perf_counter()
    Weights(WEIGHTS.read_bytes())
    load_ms = (time.perf_counter() - started) * 1000
    header = weights().header
    print(
        f"Weights: {WEIGHTS.stat().st_size:,} bytes, {header['features']:,} features, load {load_ms:.1f} ms"
    )
    texts = messages()
    route("warm up")
    decisions, floor = decision_us(texts)
    p50, p99 = percentile(decisions, 0.5), percentile(decisions, 0.99)
    floor50 = statistics.median(floor)
    print(
        f"One routing decision (agent, task kind, tier), {len(decisions)} samples: "
        f"p50 {p50:.1f} µs, p99 {p99:.1f} µs; dict lookup floor p50 {floor50:.2f} µs "
        f"(p50 {p50 / floor50:.0f}x the floor); targets p50 <= 300 µs, p99 <= 1000 µs"
    )
    sys.path.insert(0, str(ROOT / "functions" / "chat"))
    bare_code = "import fastapi, mangum; mangum.Mangum(fastapi.FastAPI())"
    chat_code = "import runpy; runpy.run_path('functions/chat/app.py')"
    bare, chat = [], []
    for _ in range(IMPORT_SAMPLES):  # alternating, so drift affects both alike
        bare.append(import_ms(bare_code))
        chat.append(import_ms(chat_code))
    ratio = statistics.median(chat) / statistics.median(bare)
    print(
        f"Import, medians of {IMPORT_SAMPLES}: bare FastAPI + Mangum {statistics.median(bare):.0f} ms, "
        f"functions/chat/app.py {statistics.median(chat):.0f} ms: {ratio:.2f}x (target <= 1.3x; "
        "the weights are read on the first decision, not at import)"
    )


if __name__ == "__main__":
    main()
