"""Writes that may run more than once: their documents carry their own `_id`, so a repeat that
finds its document already stored is success, not an error."""

from contextlib import AbstractContextManager
from functools import cache

from aether.settings import get_settings

__all__ = ["DUPLICATE_KEY", "already_stored", "bounded", "mongo_errors"]

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
