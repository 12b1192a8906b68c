"""Open the dashboard page in headless Chromium as an admin would, check every chart, save screenshots.

Starts `aether-local serve` on free ports (embedded defaults, data in a temporary folder, Redis
database 12 emptied first, so the page shows this run only), sends
traffic a dashboard should show (answers, a repeated question for cache hits, a refused request,
streams through the stream API), then has Chromium (Debian's `chromium` package) open the sign-in
link the runner prints: the page swaps the token for its session cookie and Chromium follows the
redirect, as a browser does. It checks the rendered page (every `svg[data-chart]` draws a line or
a point; the page logged nothing to the console) and saves a phone-width and a desktop-width
screenshot. Exits 1 when a check fails.

Run: .venv/bin/python scripts/dashboard_screenshot.py [OUT_DIR]   (default docs/)
"""

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import urllib.error
import urllib.request
from pathlib import Path

from aether_local.processes import free_port

ROOT = Path(__file__).resolve().parent.parent
REDIS_URL = "redis://127.0.0.1:6379/12"
SIZES = {"phone": (390, 2600), "desktop": (1280, 1900)}
CHROMIUM_FLAGS = [  # no background traffic: this machine's network is closed
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
]


def call(url: str, token: str, body: dict | None = None) -> int:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(
        url, data=data, headers={"authorization": f"Bearer {token}", "content-type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            response.read()
            return int(response.status)
    except urllib.error.HTTPError as error:
        return int(error.code)


def traffic(base: str, stream_base: str, token: str) -> None:
    questions = [
        "How do I paginate results in FastAPI?",
        "Design a scalable job queue for image processing",
        "Write test cases for a login form",
        "Plan the release of our mobile app",
        "How do I paginate results in FastAPI?",  # again: from the cache
    ]
    for question in questions:
        call(f"{base}/api/ai/v4/chat/optimized", token, {"message": question})
    call(f"{base}/api/ai/v4/chat/optimized", token, {"message": ""})  # a 422
    for question in ("Explain CSS grid in two sentences", "What is a p95 latency?"):
        call(f"{stream_base}/api/ai/v4/chat/stream", token, {"message": question})
    body = {
        "model": "aether-auto",
        "stream": True,
        "messages": [{"role": "user", "content": "Name a sorting algorithm"}],
    }
    call(f"{stream_base}/v1/chat/completions", token, body)


def chromium(binary: str, profile: str, *args: str) -> subprocess.CompletedProcess[str]:
    command = [
        binary,
        *CHROMIUM_FLAGS,
        f"--user-data-dir={profile}",
        "--enable-logging=stderr",
        "--v=0",
        *args,
    ]
    return subprocess.run(command, capture_output=True, text=True, timeout=120, check=True)


def check(dom: str, log: str) -> list[str]:
    """What is wrong with the rendered page: empty charts, console messages."""
    problems = []
    charts = re.findall(r'<svg [^>]*data-chart="([^"]+)"[^>]*>(.*?)</svg>', dom, re.S)
    if not charts:
        problems.append("no chart on the page (not signed in?)")
    for name, svg in charts:
        if "<polyline" not in svg and "<circle" not in svg:
            problems.append(f"chart {name!r} draws nothing")
    problems += [f"console: {line.strip()}" for line in log.splitlines() if ":CONSOLE(" in line]
    return problems


def main() -> None:
    out_dir = Path(sys.argv[1] if len(sys.argv) > 1 else ROOT / "docs").resolve()
    binary = shutil.which("chromium") or sys.exit("install Debian's chromium package first")
    import redis

    redis.Redis.from_url(REDIS_URL).flushdb()
    with tempfile.TemporaryDirectory() as data_dir:
        port, stream_port = free_port(), free_port()
        command = [sys.executable, "-m", "aether_local.cli", "--data-dir", data_dir, "serve"]
        command += ["--port", str(port), "--stream-port", str(stream_port)]
        env = {**os.environ, "REDIS_URL": REDIS_URL}
        server = subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
        )
        try:
            assert server.stdout is not None
            found: dict[str, str] = {}
            for line in server.stdout:
                for key, prefix in (
                    ("user", "Dev token (user)"),
                    ("sign_in", "Dashboard (open in a browser)"),
                    ("stream", "Stream API ("),
                    ("base", "Listening on "),
                ):
                    if line.startswith(prefix):
                        found[key] = line.split()[-1]
                if "base" in found:
                    break
            traffic(found["base"], found["stream"], found["user"])
            link = found["sign_in"] + "&window=60"
            problems = []
            for size, (width, height) in SIZES.items():
                profile = f"{data_dir}/chromium-{size}"  # a fresh browser: it must sign in itself
                window = f"--window-size={width},{height}"
                rendered = chromium(binary, profile, window, "--dump-dom", link)
                problems += [f"{size}: {p}" for p in check(rendered.stdout, rendered.stderr)]
                shot = out_dir / f"dashboard-{size}.png"
                chromium(binary, profile + "-shot", window, f"--screenshot={shot}", link)
                charts = len(re.findall(r"data-chart=", rendered.stdout))
                print(f"{size} ({width}x{height}): {charts} charts checked; saved {shot.relative_to(ROOT)}")
        finally:
            server.terminate()
            server.wait(10)
    if problems:
        sys.exit("\n".join(problems))
    print("every chart draws its series; no console message")


if __name__ == "__main__":
    main()
