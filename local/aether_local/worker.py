"""One Lambda execution environment: a process that imports a handler and runs its invocations.

`python -m aether_local.worker CODE_DIR HANDLER NAME MEMORY_MB TIMEOUT_S` reads one API Gateway
event per stdin line and writes the handler's response as one stdout line; a handler that raises
gives Lambda's error object (`errorMessage`, `errorType`) and the environment stays warm, as on
Lambda. Whatever the function prints (logs, EMF metrics, tracebacks) goes to stderr, as Lambda
sends it to CloudWatch Logs, so it never mixes with the responses.
"""

import importlib.util
import json
import os
import sys
import traceback
from pathlib import Path

from aether_local.lambda_host import LambdaContext


def main() -> None:
    code_dir, handler_name, name, memory_mb, timeout_s = sys.argv[1:6]
    responses = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)  # the function's own output goes to stderr
    sys.stdout = sys.stderr
    module_name, attr = handler_name.rsplit(".", 1)
    spec = importlib.util.spec_from_file_location(f"aether_fn_{name}", Path(code_dir) / f"{module_name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    handler = getattr(module, attr)
    for line in sys.stdin:
        context = LambdaContext(name, int(memory_mb), int(timeout_s))
        try:
            response = handler(json.loads(line), context)
        except Exception as error:
            traceback.print_exc()
            response = {"errorMessage": str(error), "errorType": type(error).__name__}
        responses.write(json.dumps(response) + "\n")


if __name__ == "__main__":
    main()
