"""Fixed log-scale latency buckets: mergeable across environments and minutes.

Bucket b holds latencies in (BASE_MS * RATIO**(b-1), BASE_MS * RATIO**b]; a percentile read
from merged buckets is the upper bound of the bucket it falls in, so it is never more than one
bucket (10%) above the exact value, and never below it.
"""

import math
from collections.abc import Mapping

__all__ = ["BASE_MS", "RATIO", "bucket", "percentile", "upper_bound"]

BASE_MS = 0.1
RATIO = 1.1
_LOG_RATIO = math.log(RATIO)


def bucket(ms: float) -> int:
    if ms <= BASE_MS:
        return 0
    return math.ceil(math.log(ms / BASE_MS) / _LOG_RATIO - 1e-9)


def upper_bound(index: int) -> float:
    return BASE_MS * RATIO**index


def percentile(counts: Mapping[int, int], q: float) -> float | None:
    """The q-th percentile (0 < q <= 100) of the merged buckets; None without data."""
    total = sum(counts.values())
    if total == 0:
        return None
    rank = max(1, math.ceil(q / 100 * total))
    seen = 0
    for index in sorted(counts):
        seen += counts[index]
        if seen >= rank:
            return round(upper_bound(index), 3)
    return round(upper_bound(max(counts)), 3)
