"""Writes that may run more than once: their documents carry their own `_id`, so a repeat that
finds its document already stored is success, not an error. Reads a request cannot do without
(`read_or_503`): MongoDB failing is a 503 with Retry-After, never a 500."""

from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from functools import cache

from aether.errors import ServiceUnavailable
from aether.settings import get_settings

__all__ = ["DUPLICATE_KEY", "already_stored", "bounded", "mongo_errors", "read_or_503"]

RETRY_AFTER_S = 5

DUPLICATE_KEY = 11000


@cache
def mongo_errors() -> type[Exception]:
    """pymongo's PyMongoError, imported on first use (pymongo stays out of a function's import)."""
    from pymongo.errors import PyMongoError

    return PyMongoError


def already_stored(exc: Exception) -> bool:
    """True when every error of a write is a duplicate key: the document is already there."""
    from pymongo.errors import BulkWriteError, DuplicateKeyError

    if isinstance(exc, DuplicateKeyError):
        return True
    if isinstance(exc, BulkWriteError):
        details = exc.details
        return not details.get("writeConcernErrors") and all(
            error["code"] == DUPLICATE_KEY for error in details.get("writeErrors", [])
        )
    return False


def bounded() -> AbstractContextManager[None]:
    """A deadline of MONGO_TIMEOUT_MS for the commands run inside it, server selection included,
    so a MongoDB that accepts connections and never answers cannot hold a request."""
    import pymongo

    return pymongo.timeout(get_settings().mongo_timeout_ms / 1000)


@contextmanager
def read_or_503(what: str) -> Iterator[None]:
    """A read whose failure means the request cannot be answered: a 503 that says to retry."""
    try:
        yield
    except mongo_errors() as exc:
        raise ServiceUnavailable(
            f"{what} cannot be read right now; retry shortly", retry_after_s=RETRY_AFTER_S
        ) from exc
