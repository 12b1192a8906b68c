import asyncio
from concurrent.futures import ThreadPoolExecutor

from aether.cache.decorator import cached

calls: list[int] = []


@cached(ttl=60, tiers=("l1",), namespace="test-decorator")
async def square(n: int) -> dict[str, int]:
    calls.append(n)
    return {"square": n * n}


def test_results_are_memoised_per_arguments():
    async def scenario() -> list[dict[str, int]]:
        return [await square(3), await square(3), await square(4)]

    with ThreadPoolExecutor(1) as pool:
        results = pool.submit(asyncio.run, scenario()).result()
    assert results == [{"square": 9}, {"square": 9}, {"square": 16}]
    assert calls == [3, 4]
