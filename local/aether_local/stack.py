"""Embedded defaults for local runs: Mongo, Redis and the model, when nothing is configured."""

import os
import subprocess
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path

from redis import Redis
from redis.exceptions import RedisError

from aether_local.model_server import ModelServer
from aether_local.mongo_server import start_mongo

__all__ = ["LocalStack"]

DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"


def _apply_indexes(url: str) -> int:
    """The index specs on the embedded database (a deployment runs `aether-local indexes` instead)."""
    import asyncio

    from pymongo import AsyncMongoClient

    from aether.clients import Document
    from aether.settings import Settings
    from aether.store.indexes import apply_indexes

    async def apply() -> int:
        client: AsyncMongoClient[Document] = AsyncMongoClient(url)
        try:
            applied = await apply_indexes(client[Settings.from_env().mongo_db])
        finally:
            await client.close()
        return sum(created for _, created in applied)

    return asyncio.run(apply())


def _redis_answers(url: str) -> bool:
    try:
        return bool(Redis.from_url(url, socket_timeout=0.5, socket_connect_timeout=0.5).ping())
    except (RedisError, OSError, ValueError):
        return False


@dataclass
class LocalStack:
    """Fills MONGO_URL, REDIS_URL and GROQ_* in os.environ and owns what it started."""

    data_dir: Path
    notes: list[str] = field(default_factory=list)
    _mongo: subprocess.Popen[str] | None = None
    _model: ModelServer | None = None

    def start(self) -> "LocalStack":
        if not os.environ.get("MONGO_URL"):
            self._mongo, url = start_mongo(self.data_dir / "mongo.sqlite")
            os.environ["MONGO_URL"] = url
            created = _apply_indexes(url)
            self.notes.append(
                f"MongoDB: embedded mongoeco wire server, data in {self.data_dir / 'mongo.sqlite'}; "
                f"indexes applied ({created} created)"
            )
        else:
            self.notes.append("MongoDB: MONGO_URL from the environment")

        redis_url = os.environ.get("REDIS_URL") or DEFAULT_REDIS_URL
        if _redis_answers(redis_url):
            os.environ["REDIS_URL"] = redis_url
            self.notes.append(f"Redis: {redis_url.split('@')[-1]}")
        else:
            os.environ["REDIS_URL"] = ""
            self.notes.append(
                f"Redis: nothing answers at {redis_url.split('@')[-1]}; running without the L3 cache"
            )

        if not os.environ.get("GROQ_API_KEY"):
            self._model = ModelServer("offline model: no GROQ_API_KEY set").start()
            os.environ["GROQ_API_KEY"] = "offline"
            os.environ["GROQ_BASE_URL"] = self._model.base_url
            self.notes.append("Model: OFFLINE (no GROQ_API_KEY); answers are labelled as offline")
        else:
            self.notes.append("Model: Groq")
        return self

    def stop(self) -> None:
        if self._model is not None:
            self._model.stop()
        if self._mongo is not None:
            self._mongo.terminate()
            with suppress(subprocess.TimeoutExpired):
                self._mongo.wait(5)
