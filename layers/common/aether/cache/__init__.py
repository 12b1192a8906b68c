"""The cache stack: L1 and L2 in memory, L3 in Redis, shared by everything in this environment."""

from aether.cache.tiered import Lookup, TieredCache
from aether.settings import get_settings

__all__ = ["Lookup", "TieredCache", "get_cache"]

_cache: TieredCache | None = None


def get_cache() -> TieredCache:
    """The execution environment's cache, created on first use."""
    global _cache
    if _cache is None:
        _cache = TieredCache(get_settings())
    return _cache
