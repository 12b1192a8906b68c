"""Percentiles from merged log-scale buckets stay within one bucket of the exact ones."""

import math
import random
from collections import Counter

from aether.telemetry.histogram import RATIO, bucket, percentile, upper_bound


def exact(sample: list[float], q: float) -> float:
    ordered = sorted(sample)
    return ordered[max(0, math.ceil(q / 100 * len(ordered)) - 1)]


def test_merged_buckets_give_percentiles_within_one_bucket_of_exact():
    rng = random.Random(7)
    # Eight environments' latencies (log-normal around 80 ms, a slow tail), merged by summing counts.
    environments = [[rng.lognormvariate(math.log(80), 0.8) for _ in range(2_000)] for _ in range(8)]
    merged: Counter[int] = Counter()
    for sample in environments:
        merged.update(bucket(ms) for ms in sample)
    everything = [ms for sample in environments for ms in sample]
    for q in (50, 95, 99):
        estimate, truth = percentile(merged, q), exact(everything, q)
        assert truth <= estimate <= truth * RATIO * 1.0001, (q, truth, estimate)


def test_bucket_bounds():
    assert bucket(0.05) == 0 and bucket(0.1) == 0
    for ms in (0.11, 1.0, 37.5, 499.9, 5_000.0, 120_000.0):
        index = bucket(ms)
        assert upper_bound(index - 1) < ms <= upper_bound(index) * 1.0000001


def test_no_data_has_no_percentile():
    assert percentile({}, 95) is None
