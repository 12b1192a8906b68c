"""In-memory TTL + LRU tier (L1 and L2): per execution environment, gone on any cold start."""

import time
from collections import OrderedDict
from collections.abc import Callable

__all__ = ["MemoryTier"]


class MemoryTier:
    """A bounded mapping whose entries expire after their TTL and leave least recently used first,
    bounded by entries and by the bytes of their values (an entry may hold up to
    CACHE_MAX_VALUE_BYTES, so a count alone would let a tier grow to entries x that)."""

    def __init__(
        self,
        maxsize: int,
        ttl_s: float,
        max_bytes: int | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.maxsize = maxsize
        self.ttl_s = ttl_s
        self.max_bytes = max_bytes
        self.bytes = 0  # the values' bytes held now
        self._clock = clock
        self._data: OrderedDict[str, tuple[float, bytes]] = OrderedDict()

    def get(self, key: str) -> bytes | None:
        entry = self.get_entry(key)
        return entry[1] if entry is not None else None

    def get_entry(self, key: str) -> tuple[float, bytes] | None:
        """(seconds left to live, value), or None when absent or expired."""
        entry = self._data.get(key)
        if entry is None:
            return None
        left = entry[0] - self._clock()
        if left <= 0:
            self.delete(key)
            return None
        self._data.move_to_end(key)
        return left, entry[1]

    def set(self, key: str, value: bytes, ttl_s: float | None = None) -> None:
        ttl = self.ttl_s if ttl_s is None else min(ttl_s, self.ttl_s)
        self.delete(key)
        self._data[key] = (self._clock() + ttl, value)
        self.bytes += len(value)
        while len(self._data) > self.maxsize or (self.max_bytes is not None and self.bytes > self.max_bytes):
            _, (_, dropped) = self._data.popitem(last=False)
            self.bytes -= len(dropped)

    def delete(self, key: str) -> None:
        entry = self._data.pop(key, None)
        if entry is not None:
            self.bytes -= len(entry[1])

    def __len__(self) -> int:
        return len(self._data)
