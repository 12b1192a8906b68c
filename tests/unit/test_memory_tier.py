from aether.cache.memory import MemoryTier


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_entries_expire_after_their_ttl():
    clock = Clock()
    tier = MemoryTier(maxsize=10, ttl_s=5, clock=clock)
    tier.set("a", b"1")
    tier.set("b", b"2", ttl_s=1)
    clock.now = 1.0
    assert tier.get("a") == b"1" and tier.get("b") is None
    clock.now = 5.0
    assert tier.get("a") is None
    assert len(tier) == 0


def test_a_per_entry_ttl_never_outlives_the_tier_ttl():
    clock = Clock()
    tier = MemoryTier(maxsize=10, ttl_s=5, clock=clock)
    tier.set("a", b"1", ttl_s=3600)
    clock.now = 5.0
    assert tier.get("a") is None


def test_least_recently_used_entry_leaves_first():
    tier = MemoryTier(maxsize=2, ttl_s=60)
    tier.set("a", b"1")
    tier.set("b", b"2")
    assert tier.get("a") == b"1"  # a is now the most recent
    tier.set("c", b"3")
    assert tier.get("b") is None
    assert tier.get("a") == b"1" and tier.get("c") == b"3"


def test_delete_removes_an_entry():
    tier = MemoryTier(maxsize=2, ttl_s=60)
    tier.set("a", b"1")
    tier.delete("a")
    tier.delete("missing")
    assert tier.get("a") is None


def test_the_values_bytes_are_bounded_too_oldest_first():
    # Given a tier of many entries but 10 bytes of values
    tier = MemoryTier(maxsize=100, ttl_s=60, max_bytes=10)
    tier.set("a", b"1234")
    tier.set("b", b"5678")
    assert tier.get("a") == b"1234"  # a is now the most recent
    # When a third value would pass the bound, and a key is written again with a larger value
    tier.set("c", b"9abc")
    tier.set("a", b"12345")
    # Then the least recently used left first, and the bytes held never pass the bound
    assert tier.get("b") is None and tier.get("c") == b"9abc" and tier.get("a") == b"12345"
    assert tier.bytes == 9 and len(tier) == 2
    tier.delete("a")
    assert tier.bytes == 4
