"""Render the dashboard's HTML page in headless Chromium and save a screenshot.

Starts `aether-local serve` on a free port (embedded defaults, data in a temporary folder),
makes a few chat requests so the page has figures, fetches /performance/dashboard?format=html
with the admin dev token and lets Chromium (Debian's `chromium` package) screenshot it.

Run: .venv/bin/python scripts/dashboard_screenshot.py [OUT.png]   (default dashboard.png)
"""

import json
import shutil
import socket
import subprocess
import sys
import tempfile
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def call(url: str, token: str, body: dict | None = None) -> bytes:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(
        url, data=data, headers={"authorization": f"Bearer {token}", "content-type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return response.read()


def main() -> None:
    out = Path(sys.argv[1] if len(sys.argv) > 1 else "dashboard.png").resolve()
    chromium = shutil.which("chromium") or sys.exit("install Debian's chromium package first")
    with tempfile.TemporaryDirectory() as data_dir:
        server = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "aether_local.cli",
                "--data-dir",
                data_dir,
                "serve",
                "--port",
                str(free_port()),
            ],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            assert server.stdout is not None
            tokens: dict[str, str] = {}
            for line in server.stdout:
                if line.startswith("Dev token"):
                    tokens[line.split("(")[1].split(")")[0]] = line.split()[-1]
                if line.startswith("Listening on "):
                    base = line.split()[-1] + "/api/ai/v4"
                    break
            for question in (
                "How do I paginate in FastAPI?",
                "Design a scalable queue",
                "Plan the release",
                "How do I paginate in FastAPI?",
            ):
                call(f"{base}/chat/optimized", tokens["user"], {"message": question})
            page = Path(data_dir) / "dashboard.html"
            page.write_bytes(call(f"{base}/performance/dashboard?format=html", tokens["admin"]))
            subprocess.run(
                [
                    chromium,
                    "--headless",
                    "--no-sandbox",
                    "--disable-gpu",
                    "--disable-quic",
                    "--no-first-run",
                    "--disable-background-networking",
                    "--disable-component-update",
                    "--disable-sync",
                    f"--user-data-dir={data_dir}/chromium",
                    "--window-size=1280,1500",
                    f"--screenshot={out}",
                    page.as_uri(),
                ],
                check=True,
                capture_output=True,
                timeout=60,
            )
        finally:
            server.terminate()
            server.wait(10)
    print(f"saved {out}")


if __name__ == "__main__":
    main()
