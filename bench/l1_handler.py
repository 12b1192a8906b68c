"""A chat request answered from L1, against the bare FastAPI + Mangum echo handler (issue 3).

The target counts the request's network stages apart: the concurrent writes of the conversation,
messages and usage record (timed on their own here) and, since telemetry, the live-minute write to
Redis (see telemetry_bench.py). The handler is timed with both replaced by no-ops, so the ratio
shows what the handler itself costs in CPU, telemetry's EMF and bookkeeping included.

Run: .venv/bin/python bench/l1_handler.py (about 20 s). Needs Redis on 127.0.0.1:6379 (db 14).
"""

import json
import os
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, redirect_stdout
from io import StringIO
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))

from harness import CHAT_PATH, Handler, chat_event, load_handler, service_env, services  # noqa: E402

from aether_local.lambda_host import LambdaContext  # noqa: E402

BLOCKS, PER_BLOCK = 10, 200


def timed(handler: Handler, event: dict[str, Any], n: int) -> list[float]:
    context = LambdaContext("bench", 1024, 29)
    samples = []
    for _ in range(n):
        started = time.perf_counter()
        handler(event, context)
        samples.append((time.perf_counter() - started) * 1e6)
    return samples


@contextmanager
def writes_replaced(record: Callable[[float], None] | None, redis: bool = False) -> Iterator[None]:
    """Time the persistence stage (record is given) or replace it with no-ops (record is None),
    then Redis as well unless `redis` is true."""
    from aether.services import chat
    from aether.store import conversations, usage

    saved = (conversations.save_turn, usage.record)

    async def noop(*args: Any) -> None:
        return None

    from aether.cache.redis_tier import RedisTier

    redis_call = RedisTier.call
    if record is None:
        conversations.save_turn, usage.record = noop, noop  # type: ignore[assignment]
        # On an L1 hit the only Redis call left is telemetry's live-minute round trip: a network
        # round trip too, reported apart like the writes (its CPU work is still counted).
        if not redis:
            RedisTier.call = noop  # type: ignore[assignment,method-assign]
    else:

        async def save_turn(turn: Any) -> None:
            started = time.perf_counter()
            await saved[0](turn)
            record((time.perf_counter() - started) * 1e6)

        conversations.save_turn = save_turn  # type: ignore[assignment]
    assert chat.conversations is conversations
    try:
        yield
    finally:
        conversations.save_turn, usage.record = saved
        RedisTier.call = redis_call  # type: ignore[method-assign]


def main() -> None:
    with services() as (mongo_url, model_server), redirect_stdout(StringIO()):
        os.environ.update(service_env(mongo_url, model_server))
        # a prompt without history is cached in L1 (shared scope), the version trusted for the run
        os.environ.update(CACHE_SHARED_SCOPE="true", CACHE_VERSION_TTL_MS="3600000")
        bare = load_handler(ROOT / "bench" / "bare_app.py", "bench_bare")
        chat = load_handler(ROOT / "functions" / "chat" / "app.py", "bench_chat")
        event = chat_event("What is a Lambda layer?", CHAT_PATH)
        timed(chat, event, 1)  # the miss that fills the cache
        persistence: list[float] = []
        with writes_replaced(persistence.append):
            with_writes = [t for _ in range(BLOCKS) for t in timed(chat, event, PER_BLOCK // 4)]
        bare_samples: list[float] = []
        chat_samples: list[float] = []
        with writes_replaced(None):
            timed(chat, event, 200)
            timed(bare, event, 200)
            for _ in range(BLOCKS):  # alternate blocks so drift spreads evenly
                bare_samples += timed(bare, event, PER_BLOCK)
                chat_samples += timed(chat, event, PER_BLOCK)
            tier = json.loads(chat(event, LambdaContext("bench", 1024, 29))["body"])["cache_tier"]
    bare_us, chat_us = statistics.median(bare_samples), statistics.median(chat_samples)
    print(f"Chat request answered from the cache (tier: {tier}), µs per invocation, medians")
    print(f"  bare FastAPI + Mangum echo          {bare_us:8.1f}   1.00x")
    ratio = chat_us / bare_us
    print(f"  chat L1 hit, network as no-ops      {chat_us:8.1f}   {ratio:.2f}x  (target <= 3x)")
    print(f"  chat L1 hit, with the writes        {statistics.median(with_writes):8.1f}")
    writes_us = statistics.median(persistence)
    print(f"  the write stage alone               {writes_us:8.1f}   (3 concurrent Mongo commands, mongoeco)")


if __name__ == "__main__":
    main()
