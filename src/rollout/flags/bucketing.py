"""Bucketing: which slice of a percentage split a subject falls in, the same on every machine.

The definition (ARCHITECTURE.md, "Feature flags")::

    h      = murmur3_32(f"{salt}/{value}")      # MurmurHash3 x86 32-bit, seed 0, unsigned
    bucket = (h * 100_000) >> 32                # 0 .. 99_999, one bucket = 0.001 %

``salt`` defaults to the flag key and ``value`` is the bucket-by attribute (the targeting key
unless the flag says otherwise). Scaling with a multiply and a shift instead of ``h % 100_000``
gives every bucket either 42_949 or 42_950 of the 2**32 hash values, so there is no modulo bias.

A subject is in a rollout of ``p`` percent iff ``bucket < p * 1000``; raising ``p`` therefore never
removes anyone and ``p = 0`` removes everyone. A split's variants take consecutive half-open
ranges of buckets in the order given: weights ``[25_000, 25_000, 50_000]`` (thousandths of a
percent) give buckets ``[0, 25_000)``, ``[25_000, 50_000)`` and ``[50_000, 100_000)``.

Worked example: ``murmur3_32("new-checkout/user-42") = 3_596_289_590``, so
``bucket = 3_596_289_590 * 100_000 >> 32 = 83_732``: this user is in a rollout of 83.733 % or
more and out of one of 83.732 % or less.

The evaluator never computes ``bucket`` itself: it compares ``h`` against precomputed hash
bounds (:func:`hash_bound`), which is the same test with one multiplication less.
"""

from __future__ import annotations

import math

import mmh3

BUCKETS = 100_000
"""Number of buckets; one bucket is 0.001 % (one thousandth of a percent)."""

_HASH_SPACE = 1 << 32


def bucket_key(salt: str, value: str | int) -> str:
    """The text that is hashed: ``f"{salt}/{value}"``."""
    return f"{salt}/{value}"


def murmur3_32(text: str) -> int:
    """Unsigned MurmurHash3 x86 32-bit of ``text`` encoded as UTF-8, seed 0."""
    return int(mmh3.hash(text, 0, False))


def bucket_of_hash(h: int) -> int:
    """``(h * 100_000) >> 32``: the bucket (0 .. 99_999) of an unsigned 32-bit hash."""
    return (h * BUCKETS) >> 32


def bucket(salt: str, value: str | int) -> int:
    """The bucket (0 .. 99_999) of ``value`` under ``salt``; see the module docstring."""
    return bucket_of_hash(murmur3_32(bucket_key(salt, value)))


def percent_to_buckets(percent: float) -> int:
    """How many buckets a rollout of ``percent`` % covers: the least integer ``n`` with
    ``bucket < percent * 1000  <=>  bucket < n`` for every integer bucket, i.e. ``ceil``.

    The product is rounded to 6 decimals first so that float noise (``2.007 * 1000 ==
    2007.0000000000002``) does not add a bucket. Monotone in ``percent``.

    >>> percent_to_buckets(25), percent_to_buckets(0.001), percent_to_buckets(33.3333)
    (25000, 1, 33334)
    """
    if not (0.0 <= percent <= 100.0):
        raise ValueError(f"percent must be between 0 and 100, got {percent!r}")
    return math.ceil(round(percent * 1000, 6))


def hash_bound(buckets: int) -> int:
    """The least hash ``H`` with ``bucket_of_hash(h) < buckets  <=>  h < H``.

    From ``(h * 100_000) >> 32 < b  <=>  h * 100_000 < b * 2**32  <=>  h < ceil(b * 2**32 /
    100_000)`` (``h`` and ``b`` are integers).
    """
    return -(-(buckets * _HASH_SPACE) // BUCKETS)


def cumulative_bounds(weights: tuple[int, ...]) -> tuple[int, ...]:
    """Hash bounds between consecutive variant ranges (one fewer than ``weights``).

    ``weights`` are thousandths of a percent summing to 100_000. Variant ``i`` gets the hashes
    ``h`` with ``bounds[i-1] <= h < bounds[i]``; ``bisect_right(bounds, h)`` is its index.
    A zero weight gives an empty range, so that variant is never chosen.
    """
    bounds: list[int] = []
    total = 0
    for weight in weights[:-1]:
        total += weight
        bounds.append(hash_bound(total))
    return tuple(bounds)
