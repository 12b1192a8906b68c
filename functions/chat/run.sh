#!/bin/bash
# The chat app over HTTP on $PORT, for the stream API. On AWS the Lambda Web Adapter
# (AWS_LAMBDA_EXEC_WRAPPER=/opt/bootstrap) runs this as the function's handler and forwards each
# request to the app; `aether-local serve` runs it behind its local stream API.
# The layer's packages are under /opt/python on Lambda (locally they are installed in the venv).
export PYTHONPATH="/opt/python${PYTHONPATH:+:$PYTHONPATH}"
exec python3 -m uvicorn app:app --host 127.0.0.1 --port "${PORT:-8000}" --no-access-log --log-level warning
