"""The tiered cache: L1 (hot, shared keys) -> L2 (per-user session) -> L3 (Redis, all environments).

Keys live in namespaces (a user, or "shared"). Each namespace has a version number in Redis that
is part of every key, so clearing a namespace is one INCR: entries of older versions, in any
environment's L1/L2 or in Redis, can no longer be reached. An environment re-reads a version at
most every `version_ttl_s` (the bound on cross-environment staleness); the read is folded into
the L3 lookup, so it costs no extra round trip.

Concurrent identical misses are coalesced: one computation per environment (single-flight), and
across environments a short Redis lock taken in the same round trip as the lookup; the others
wait for its value for a bounded time and compute themselves if the holder disappears.
"""

import asyncio
import itertools
import secrets
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, cast

from aether import clients
from aether.cache.memory import MemoryTier
from aether.cache.redis_tier import RedisTier
from aether.settings import Settings
from aether.telemetry import count, timing

if TYPE_CHECKING:
    from redis.asyncio import Redis

__all__ = ["Lookup", "TierName", "TieredCache", "Uncacheable"]

_ENVIRONMENT = secrets.token_hex(6)  # names this environment in lock tokens

TierName = Literal["l1", "l2", "l3"]
ALL_TIERS: tuple[TierName, ...] = ("l1", "l2", "l3")


class Uncacheable(Exception):
    """Raised by a compute function whose value must be returned but not cached (a partial result)."""

    def __init__(self, value: bytes) -> None:
        super().__init__("value not cacheable")
        self.value = value


@dataclass(frozen=True, slots=True)
class Lookup:
    value: bytes
    tier: str | None  # the tier that answered; "single_flight" for a shared in-flight result; None: computed


class TieredCache:
    def __init__(self, settings: Settings, redis: "Callable[[], Redis | None]" = clients.redis) -> None:
        self.l1 = MemoryTier(
            settings.cache_l1_size, settings.cache_l1_ttl_s, settings.cache_l1_max_mb * 2**20
        )
        self.l2 = MemoryTier(
            settings.cache_l2_size, settings.cache_l2_ttl_s, settings.cache_l2_max_mb * 2**20
        )
        self.l3 = RedisTier(redis, settings.redis_retry_after_s)
        self.max_value_bytes = settings.cache_max_value_bytes
        self.max_memory_ttl_s = max(settings.cache_l1_ttl_s, settings.cache_l2_ttl_s)
        self.version_ttl_s = settings.cache_version_ttl_ms / 1000
        self.lock_ms = settings.cache_lock_ms
        self.lock_poll_s = settings.cache_lock_poll_ms / 1000
        self.counters: Counter[str] = Counter()
        self._tokens = itertools.count()
        self._versions: dict[str, tuple[int, float]] = {}
        self._flights: dict[str, asyncio.Future[Lookup]] = {}

    # Keys -----------------------------------------------------------------------------------

    @staticmethod
    def version_key(namespace: str) -> str:
        """The Redis key of a namespace's version (INCR it to clear the namespace everywhere)."""
        return f"aether:{{{namespace}}}:ver"

    @staticmethod
    def _prefix(namespace: str) -> str:
        return f"aether:{{{namespace}}}:v"  # the hash tag keeps a namespace in one cluster slot

    def _key(self, namespace: str, version: int, digest: str) -> str:
        return f"{self._prefix(namespace)}{version}:{digest}"

    def _known_version(self, namespace: str, tiers: tuple[TierName, ...]) -> int | None:
        """The namespace version to trust without asking Redis, if any."""
        known = self._versions.get(namespace)
        if "l3" not in tiers:  # memory only: the last version this environment saw
            return known[0] if known is not None else 0
        if known is None or time.monotonic() - known[1] >= self.version_ttl_s:
            return None
        return known[0]

    # Reads ----------------------------------------------------------------------------------

    def _note(self, tier: str, hit: bool) -> None:
        self.counters[f"{tier}_{'hit' if hit else 'miss'}"] += 1
        count("TierHits" if hit else "TierMisses", tier=tier)

    def _from_memory(self, key: str, tiers: tuple[TierName, ...]) -> Lookup | None:
        for name, tier in self._memory():
            if name not in tiers:
                continue
            entry = tier.get_entry(key)
            if entry is not None:
                self._note(name, hit=True)
                if name == "l2" and "l1" in tiers:
                    self.l1.set(key, entry[1], entry[0])
                return Lookup(entry[1], name)
            self._note(name, hit=False)
        return None

    def in_memory(self, namespace: str, digest: str, tiers: tuple[TierName, ...]) -> bool:
        """Whether this environment's memory answers the lookup without asking Redis."""
        version = self._known_version(namespace, tiers)
        if version is None:
            return False
        key = self._key(namespace, version, digest)
        return any(name in tiers and tier.get_entry(key) is not None for name, tier in self._memory())

    def _memory(self) -> tuple[tuple[TierName, MemoryTier], ...]:
        return (("l1", self.l1), ("l2", self.l2))

    async def get_or_compute(
        self,
        namespace: str,
        digest: str,
        compute: Callable[[], Awaitable[bytes]],
        *,
        ttl_s: int,
        tiers: tuple[TierName, ...] = ALL_TIERS,
        deadline: float | None = None,
        deferred: "list[Callable[[], Awaitable[None]]] | None" = None,
    ) -> Lookup:
        """The cached value, or `compute()`'s, written through to `tiers`; identical misses coalesce.

        With `deferred`, a computed value is in memory at once and its Redis write (which also
        frees the fill lock) is appended there, for the caller to run beside its other writes."""
        lookup = await self._get_or_compute(namespace, digest, compute, ttl_s, tiers, deadline, deferred)
        count("CacheMiss" if lookup.tier is None else "CacheHit")
        return lookup

    async def _get_or_compute(
        self,
        namespace: str,
        digest: str,
        compute: Callable[[], Awaitable[bytes]],
        ttl_s: int,
        tiers: tuple[TierName, ...],
        deadline: float | None,
        deferred: "list[Callable[[], Awaitable[None]]] | None",
    ) -> Lookup:
        version = self._known_version(namespace, tiers)
        if version is not None:
            hit = self._from_memory(self._key(namespace, version, digest), tiers)
            if hit is not None:
                return hit
        flight_key = f"{namespace}:{digest}"
        flight = self._flights.get(flight_key)
        if flight is not None:
            self.counters["single_flight"] += 1
            return Lookup((await asyncio.shield(flight)).value, "single_flight")
        future: asyncio.Future[Lookup] = asyncio.get_running_loop().create_future()
        self._flights[flight_key] = future
        try:
            result = await self._lookup_or_compute(
                namespace, digest, version, compute, ttl_s, tiers, deadline, deferred
            )
            future.set_result(result)
            return result
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # retrieved: followers re-raise it, nobody logs it as unhandled
            raise
        finally:
            del self._flights[flight_key]

    async def _lookup_or_compute(
        self,
        namespace: str,
        digest: str,
        version: int | None,
        compute: Callable[[], Awaitable[bytes]],
        ttl_s: int,
        tiers: tuple[TierName, ...],
        deadline: float | None,
        deferred: "list[Callable[[], Awaitable[None]]] | None",
    ) -> Lookup:
        token = f"{_ENVIRONMENT}:{next(self._tokens)}"
        read = None
        if "l3" in tiers:
            with timing.span("cache"):
                read = await self.l3.read(
                    self.version_key(namespace), self._prefix(namespace), f":{digest}", token, self.lock_ms
                )
        if read is None:  # no L3: only memory, with the last version known (or 0)
            self.counters["l3_unavailable" if "l3" in tiers else "l3_skipped"] += 1
            version = version if version is not None else self._versions.get(namespace, (0, 0.0))[0]
            return await self._memory_or_compute(namespace, version, digest, compute, ttl_s, tiers)
        version, value, locked = read
        self._versions[namespace] = (version, time.monotonic())
        key = self._key(namespace, version, digest)
        if value is not None:
            self._note("l3", hit=True)
            self._promote(key, value, ttl_s, tiers)
            return Lookup(value, "l3")
        self._note("l3", hit=False)
        hit = self._from_memory(key, tiers)
        if hit is not None:  # rare: Redis evicted what memory still holds
            if locked:
                await self.l3.call(lambda r: r.delete(f"{key}:lock"))
            return hit
        if not locked:
            with timing.span("cache"):
                waited = await self._wait_for_holder(key, deadline)
            if waited is not None:
                self._promote(key, waited, ttl_s, tiers)
                return Lookup(waited, "l3")
        try:
            value = await compute()
        except Uncacheable as result:
            if locked:
                await self.l3.call(lambda r: r.delete(f"{key}:lock"))
            return Lookup(result.value, None)
        except BaseException:  # a refused or failed computation: the next caller need not wait
            if locked:
                await self.l3.call(lambda r: r.delete(f"{key}:lock"))
            raise
        if deferred is None:
            await self._write(key, value, ttl_s, tiers, release_lock=locked)
        else:
            self._promote(key, value, ttl_s, tiers)
            deferred.append(lambda: self._store(key, value, ttl_s, release_lock=locked))
        return Lookup(value, None)

    async def _memory_or_compute(
        self,
        namespace: str,
        version: int,
        digest: str,
        compute: Callable[[], Awaitable[bytes]],
        ttl_s: int,
        tiers: tuple[TierName, ...],
    ) -> Lookup:
        key = self._key(namespace, version, digest)
        hit = self._from_memory(key, tiers)
        if hit is not None:
            return hit
        try:
            value = await compute()
        except Uncacheable as result:
            return Lookup(result.value, None)
        self._promote(key, value, ttl_s, tiers)
        return Lookup(value, None)

    async def _wait_for_holder(self, key: str, deadline: float | None) -> bytes | None:
        """Poll L3 while another environment holds the fill lock; None if it gives up or dies."""
        limit = time.monotonic() + self.lock_ms / 1000
        if deadline is not None:
            limit = min(limit, deadline)
        while time.monotonic() < limit:
            await asyncio.sleep(self.lock_poll_s)
            # the client returns bytes (decode_responses is off); redis-py's types allow str too
            state = cast(
                "list[bytes | None] | None", await self.l3.call(lambda r: r.mget(key, f"{key}:lock"))
            )
            if state is None:
                return None
            value, lock = state
            if value is not None:
                self.counters["l3_lock_waited"] += 1
                return value
            if lock is None:
                return None
        return None

    # Writes ---------------------------------------------------------------------------------

    def _promote(self, key: str, value: bytes, ttl_s: int, tiers: tuple[TierName, ...]) -> None:
        if len(value) > self.max_value_bytes:
            return
        if "l1" in tiers:
            self.l1.set(key, value, ttl_s)
        if "l2" in tiers:
            self.l2.set(key, value, ttl_s)

    async def _write(
        self, key: str, value: bytes, ttl_s: int, tiers: tuple[TierName, ...], release_lock: bool
    ) -> None:
        self._promote(key, value, ttl_s, tiers)
        if "l3" in tiers:
            await self._store(key, value, ttl_s, release_lock)

    async def _store(self, key: str, value: bytes, ttl_s: int, release_lock: bool) -> None:
        """The value into Redis (one pipelined round trip), and the fill lock freed if held."""
        too_large = len(value) > self.max_value_bytes
        if too_large:
            self.counters["too_large"] += 1
            if not release_lock:
                return

        async def store(client: "Redis") -> None:
            pipe = client.pipeline(transaction=False)
            if not too_large:
                pipe.set(key, value, ex=ttl_s)
            if release_lock:
                pipe.delete(f"{key}:lock")
            await pipe.execute()

        with timing.span("cache"):
            await self.l3.call(store)

    async def get(
        self, namespace: str, digest: str, tiers: tuple[TierName, ...] = ALL_TIERS
    ) -> Lookup | None:
        """The cached value, if any, without computing or locking (a streamed answer is put later)."""
        version = self._known_version(namespace, tiers)
        if version is not None:
            hit = self._from_memory(self._key(namespace, version, digest), tiers)
            if hit is not None:
                return hit
        if "l3" not in tiers:
            return None
        version_key, prefix = self.version_key(namespace), self._prefix(namespace)
        with timing.span("cache"):
            read = await self.l3.read(version_key, prefix, f":{digest}", "", 0)
        if read is None:
            return None
        version, value, _ = read
        self._versions[namespace] = (version, time.monotonic())
        key = self._key(namespace, version, digest)
        if value is None:
            self._note("l3", hit=False)
            return self._from_memory(key, tiers)
        self._note("l3", hit=True)
        self._promote(key, value, self.max_memory_ttl_s, tiers)
        return Lookup(value, "l3")

    async def put(
        self, namespace: str, digest: str, value: bytes, ttl_s: int, tiers: tuple[TierName, ...] = ALL_TIERS
    ) -> None:
        version = self._known_version(namespace, tiers)
        if version is None:
            version = self._versions.get(namespace, (0, 0.0))[0]
        await self._write(self._key(namespace, version, digest), value, ttl_s, tiers, release_lock=False)

    async def clear(self, namespace: str) -> None:
        """Make every entry of `namespace` unreachable, in this and every other environment."""
        version = await self.l3.call(lambda r: r.incr(self.version_key(namespace)))
        if version is None:  # Redis unavailable: at least this environment forgets
            version = self._versions.get(namespace, (0, 0.0))[0] + 1
        self._versions[namespace] = (int(version), time.monotonic())
