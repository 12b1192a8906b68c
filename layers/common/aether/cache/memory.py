"""In-memory TTL + LRU tier (L1 and L2): per execution environment, gone on any cold start."""

import time
from collections import OrderedDict
from collections.abc import Callable

__all__ = ["MemoryTier"]


class MemoryTier:
    """A bounded mapping whose entries expire after their TTL and leave least recently used first."""

    def __init__(self, maxsize: int, ttl_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.maxsize = maxsize
        self.ttl_s = ttl_s
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
            del self._data[key]
            return None
        self._data.move_to_end(key)
        return left, entry[1]

    def set(self, key: str, value: bytes, ttl_s: float | None = None) -> None:
        ttl = self.ttl_s if ttl_s is None else min(ttl_s, self.ttl_s)
        self._data[key] = (self._clock() + ttl, value)
        self._data.move_to_end(key)
        while len(self._data) > self.maxsize:
            self._data.popitem(last=False)

    def delete(self, key: str) -> None:
        self._data.pop(key, None)

    def __len__(self) -> int:
        return len(self._data)
