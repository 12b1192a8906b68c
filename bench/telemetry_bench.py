"""What telemetry costs a request (issue 5): Redis round trips, counted, and handler time, as a ratio.

The chat handler answers from L1 (the conversation and usage writes replaced by no-ops, as in
bench/l1_handler.py, so the comparison is not drowned by mongoeco), once as deployed and once with
the telemetry middleware and the EMF flush taken out of the same app. Redis round trips are
counted per request by wrapping the connection's send. The dashboard's 24-hour read is counted
too.

Run: .venv/bin/python bench/telemetry_bench.py (about 20 s). Needs Redis on 127.0.0.1:6379.
"""

import asyncio
import os
import statistics
import sys
from contextlib import redirect_stdout
from io import StringIO
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))

from harness import CHAT_PATH, chat_event, load_handler, service_env, services  # noqa: E402
from l1_handler import timed, writes_replaced  # noqa: E402

from aether_local.lambda_host import LambdaContext  # noqa: E402

BLOCKS, PER_BLOCK = 10, 200


def without_telemetry(module: Any) -> Any:
    """The same app with the telemetry middleware removed and a flush that prints nothing."""
    import aether.http.app as http_app
    from aether.http.telemetry import RequestTelemetry
    from aether.telemetry import _pending

    app = module.app
    app.user_middleware = [m for m in app.user_middleware if m.cls is not RequestTelemetry]
    app.middleware_stack = None  # rebuilt on the next call
    http_app.flush_metrics = lambda service: _pending.clear()
    return http_app.lambda_handler(app)


def count_redis_sends(handler: Any, event: dict[str, Any]) -> int:
    from redis.asyncio.connection import AbstractConnection

    sends = 0
    original = AbstractConnection.send_packed_command

    async def counting(self: Any, *args: Any, **kwargs: Any) -> None:
        nonlocal sends
        sends += 1
        await original(self, *args, **kwargs)

    AbstractConnection.send_packed_command = counting  # type: ignore[method-assign]
    try:
        handler(event, LambdaContext("bench", 1024, 29))
    finally:
        AbstractConnection.send_packed_command = original  # type: ignore[method-assign]
    return sends


def main() -> None:
    import importlib.util

    with services() as (mongo_url, model_server), redirect_stdout(StringIO()):
        os.environ.update(service_env(mongo_url, model_server))
        # a prompt without history is cached in L1 (shared scope), the version trusted for the run
        os.environ.update(CACHE_SHARED_SCOPE="true", CACHE_VERSION_TTL_MS="3600000")
        deployed = load_handler(ROOT / "functions" / "chat" / "app.py", "bench_chat_t")
        spec = importlib.util.spec_from_file_location(
            "bench_chat_plain", ROOT / "functions" / "chat" / "app.py"
        )
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        event = chat_event("What is an execution environment?", CHAT_PATH)
        deployed(event, LambdaContext("bench", 1024, 29))  # fills the cache
        with writes_replaced(None, redis=True):
            sends_with = count_redis_sends(deployed, event)
            plain = without_telemetry(module)
            sends_without = count_redis_sends(plain, event)
            timed(deployed, event, 200)
            timed(plain, event, 200)
            with_t: list[float] = []
            without_t: list[float] = []
            for _ in range(BLOCKS):
                with_t += timed(deployed, event, PER_BLOCK)
                without_t += timed(plain, event, PER_BLOCK)
        from aether.store.live import read_window

        loop = asyncio.get_event_loop()
        window = loop.run_until_complete(read_window(1440))
    a, b = statistics.median(with_t), statistics.median(without_t)
    print("Telemetry on a chat request answered from L1 (writes as no-ops), µs per invocation, medians")
    print(f"  without telemetry   {b:8.1f}   1.00x   Redis round trips: {sends_without}")
    ratio = a / b
    print(f"  with telemetry      {a:8.1f}   {ratio:.2f}x   Redis round trips: {sends_with}  (at most +1)")
    assert window is not None
    print(
        f"Dashboard, 24-hour window: {window.hashes_read} minute hashes in {window.round_trips} round trips"
    )


if __name__ == "__main__":
    main()
