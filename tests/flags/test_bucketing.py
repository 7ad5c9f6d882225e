from __future__ import annotations

from bisect import bisect_right

import mmh3
import pytest
from hypothesis import given
from hypothesis import strategies as st

from rollout.flags.bucketing import (
    BUCKETS,
    bucket,
    bucket_of_hash,
    cumulative_bounds,
    hash_bound,
    murmur3_32,
    percent_to_buckets,
)

hashes = st.integers(min_value=0, max_value=2**32 - 1)
bucket_counts = st.integers(min_value=0, max_value=BUCKETS)


def _formula(salt: str, value: str) -> int:
    # ARCHITECTURE.md, written out with mmh3 directly.
    return (mmh3.hash(f"{salt}/{value}", seed=0, signed=False) * 100_000) >> 32


@given(st.text(), st.text() | st.integers())
def test_bucket_is_the_documented_formula(salt: str, value: str | int) -> None:
    b = bucket(salt, value)
    assert b == _formula(salt, str(value))
    assert 0 <= b < BUCKETS
    assert bucket(salt, value) == b  # deterministic


def test_the_docstring_example() -> None:
    h = murmur3_32("new-checkout/user-42")
    assert h == mmh3.hash(b"new-checkout/user-42", 0, False)
    assert bucket("new-checkout", "user-42") == (h * 100_000) >> 32


def test_the_salt_changes_the_assignment() -> None:
    users = [f"user-{i}" for i in range(1000)]
    same = sum(bucket("flag-a", u) == bucket("flag-b", u) for u in users)
    assert same < 10  # independent flags do not put the same people first


@given(hashes, bucket_counts)
def test_hash_bound_is_the_bucket_test(h: int, buckets: int) -> None:
    assert (bucket_of_hash(h) < buckets) == (h < hash_bound(buckets))


@given(bucket_counts)
def test_hash_bound_is_tight(buckets: int) -> None:
    bound = hash_bound(buckets)
    if bound > 0:
        assert bucket_of_hash(bound - 1) < buckets
    if bound < 2**32:
        assert bucket_of_hash(bound) >= buckets


def test_every_bucket_gets_an_equal_share_of_hashes() -> None:
    # No modulo bias: each bucket covers 2**32 / 100_000 = 42_949.67 hashes, so 42_949 or 42_950.
    sizes = {hash_bound(b + 1) - hash_bound(b) for b in range(BUCKETS)}
    assert sizes == {42_949, 42_950}
    assert hash_bound(0) == 0 and hash_bound(BUCKETS) == 2**32


@given(st.integers(min_value=0, max_value=BUCKETS))
def test_whole_thousandths_convert_exactly(k: int) -> None:
    assert percent_to_buckets(k / 1000) == k


@given(st.floats(0, 100), st.floats(0, 100))
def test_percent_to_buckets_is_monotone(p: float, q: float) -> None:
    low, high = sorted((p, q))
    assert percent_to_buckets(low) <= percent_to_buckets(high)


def test_percent_to_buckets_follows_bucket_below_p_times_1000() -> None:
    assert percent_to_buckets(33.3333) == 33_334  # buckets 0..33_333 are < 33_333.3
    assert percent_to_buckets(2.007) == 2_007  # float noise (2007.0000000000002) is not a bucket
    for bad in (-0.001, 100.001, float("nan")):
        with pytest.raises(ValueError, match="between 0 and 100"):
            percent_to_buckets(bad)


@given(st.lists(st.integers(0, 1000), min_size=1, max_size=6), hashes)
def test_variants_take_consecutive_half_open_ranges(raw: list[int], h: int) -> None:
    # Scale arbitrary weights to sum to 100_000 (the remainder goes to the last variant).
    total = sum(raw) or 1
    weights = [w * BUCKETS // total for w in raw]
    weights[-1] += BUCKETS - sum(weights)
    index = bisect_right(cumulative_bounds(tuple(weights)), h)
    b = bucket_of_hash(h)
    start = sum(weights[:index])
    assert weights[index] > 0
    assert start <= b < start + weights[index]
