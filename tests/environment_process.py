"""A Lambda execution environment in its own process, for tests that need several.

Reads one JSON request per stdin line ({"function", "method", "path", "body", "sub"}), runs
it through the function's real handler, and prints {"status", "body"} on one stdout line.
"""

import json
import sys
from contextlib import redirect_stdout
from pathlib import Path

from aether_local.events import http_api_event
from aether_local.lambda_host import FunctionHost
from aether_local.template import read_template

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    hosts = {
        route.function.name: FunctionHost(route.function) for route in read_template(ROOT / "template.yaml")
    }
    out = sys.stdout
    for line in sys.stdin:
        request = json.loads(line)
        path = "/api/ai/v4" + request["path"]
        event = http_api_event(
            method=request["method"],
            path=path,
            query="",
            headers={"content-type": "application/json"},
            body=json.dumps(request.get("body", {})).encode(),
            route_key=f"{request['method']} {path}",
            path_parameters={},
            claims={"sub": request["sub"]},
        )
        with redirect_stdout(sys.stderr):  # the function's logs and metrics
            response = hosts[request["function"]].invoke(event)
        out.write(json.dumps({"status": response["statusCode"], "body": json.loads(response["body"])}) + "\n")
        out.flush()


if __name__ == "__main__":
    main()
