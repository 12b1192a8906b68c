"""Cold start as issue 15 measures it: importing a function's app against a bare FastAPI + Mangum.

Each sample is a fresh interpreter that times, from its first line, either the import of the
function's `app.py` (which builds its FastAPI app and Mangum handler) or the floor: importing
fastapi and mangum and building `Mangum(FastAPI())` with no routes. The two alternate, RUNS
times each, and the medians are compared (target for chat: at most 1.2x). The interpreter's own
start is outside both figures. bench/run.py section 1 measures the same import against the
one-route echo app instead, and the first invocation too.

Run: .venv/bin/python bench/cold_start.py [function ...] (about 20 s per function).
"""

import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RUNS = 9

FLOOR = (
    "import time; started = time.perf_counter()\n"
    "from fastapi import FastAPI\n"
    "from mangum import Mangum\n"
    "Mangum(FastAPI(), lifespan='off')\n"
    "print((time.perf_counter() - started) * 1000)\n"
)
FUNCTION = (
    "import time; started = time.perf_counter()\n"
    "import importlib.util\n"
    "spec = importlib.util.spec_from_file_location('app', {path!r})\n"
    "module = importlib.util.module_from_spec(spec)\n"
    "spec.loader.exec_module(module)\n"
    "print((time.perf_counter() - started) * 1000)\n"
)


def sample(code: str) -> float:
    return float(subprocess.check_output([sys.executable, "-c", code], cwd=ROOT, text=True))


def main() -> None:
    functions = sys.argv[1:] or ["chat"]
    print(f"Import in a fresh interpreter, ms, medians of {RUNS} alternating runs")
    for name in functions:
        path = str(ROOT / "functions" / name / "app.py")
        floor: list[float] = []
        app: list[float] = []
        for _ in range(RUNS):
            floor.append(sample(FLOOR))
            app.append(sample(FUNCTION.format(path=path)))
        bare, mine = statistics.median(floor), statistics.median(app)
        print(
            f"  {name:<12} Mangum(FastAPI()) {bare:6.1f}   {name} app {mine:6.1f}   ratio {mine / bare:.2f}x"
        )


if __name__ == "__main__":
    main()
