"""A mergeable latency sketch: a log-bucketed histogram with a relative-accuracy guarantee.

Values (milliseconds) go into buckets whose edges grow geometrically by ``gamma = (1 + a) /
(1 - a)``, where ``a`` is the relative accuracy (default 0.01). Bucket ``i`` holds the values in
``(gamma**(i-1), gamma**i]`` and reports them as ``2 * gamma**i / (gamma + 1)``, which is within
``a`` of every value in the bucket. So any quantile read back is within 1 % of the true value at
that rank, whatever the distribution, and two sketches merge exactly by adding bucket counts
(the idea of DDSketch, Masson, Rim & Lee, VLDB 2019; this is an independent implementation).

Worked example, ``a = 0.01``: ``gamma = 1.0202...``; 300 ms falls in bucket
``ceil(ln 300 / ln gamma) = 286``, reported as 301.9 ms, 0.6 % off.

Values at or below ``MIN_MS`` (a microsecond) are counted in a zero bucket reported as 0.

The sketch is mutable while it is being filled (``add``, ``merge``); everything that reads
it (the analysis) treats it as a value and never changes it.

The counts are kept dense, one list entry per bucket from the lowest to the highest seen (a few
hundred for real latencies), so that merging, quantiles and counts above a value are list
operations in C rather than a Python loop per bucket: judging a long window merges and reads
thousands of these sketches. Finite latencies span at most about ``360 / a`` buckets, so ``a``
is at least ``MIN_ACCURACY`` (0.1 %) to keep any sketch small.
"""

from __future__ import annotations

import json
import math
import sys
from bisect import bisect_right
from collections.abc import Iterable, Mapping
from itertools import accumulate
from operator import add
from typing import Any

__all__ = ["DEFAULT_ACCURACY", "MAX_BUCKETS", "MIN_ACCURACY", "MIN_MS", "LatencySketch"]

DEFAULT_ACCURACY = 0.01
MIN_MS = 1e-3
# A serialised sketch spanning more buckets than this is refused: at 1 % accuracy 5,000 buckets
# already cover 1 µs to 10**40 ms, so anything longer is malformed input, not latency.
MAX_BUCKETS = 5000
# The finest accuracy a sketch may have. Counts are dense between the lowest and the highest
# bucket, which for finite latencies are at most about 360 / accuracy apart (36,000 at 1 %): the
# floor keeps any sketch, even one merged from far-apart outside data, within a few MB.
MIN_ACCURACY = 0.001
_FORMAT_VERSION = 1


class LatencySketch:
    """Counts of latencies (ms) in log-spaced buckets; see the module docstring.

    >>> s = LatencySketch()
    >>> for ms in (10, 20, 30, 40, 1000):
    ...     s.add(ms)
    >>> s.count
    5
    >>> round(s.quantile(0.5), 1)  # 30, within 1 %
    30.3
    >>> s.count_above(100)
    1
    """

    __slots__ = (
        "_count",
        "_counts",
        "_gamma",
        "_log_gamma",
        "_offset",
        "_zero",
        "relative_accuracy",
    )

    def __init__(self, relative_accuracy: float = DEFAULT_ACCURACY) -> None:
        if not MIN_ACCURACY <= relative_accuracy < 1.0:
            raise ValueError(
                f"relative accuracy must be at least {MIN_ACCURACY} and below 1, "
                f"not {relative_accuracy}"
            )
        self.relative_accuracy = relative_accuracy
        self._gamma = (1.0 + relative_accuracy) / (1.0 - relative_accuracy)
        self._log_gamma = math.log(self._gamma)
        # _counts[i] is the count of bucket _offset + i; zeros inside the range are kept.
        self._counts: list[int] = []
        self._offset = 0
        self._zero = 0
        self._count = 0

    # ------------------------------------------------------------------ filling

    def add(self, ms: float, count: int = 1) -> None:
        """Record ``count`` requests that took ``ms`` milliseconds (``ms >= 0``)."""
        if not math.isfinite(ms) or ms < 0:
            raise ValueError(f"a latency must be a finite number of ms >= 0, not {ms!r}")
        if count < 0:
            raise ValueError(f"count must be >= 0, not {count}")
        if count == 0:
            return
        if ms <= MIN_MS:
            self._zero += count
        else:
            key = self._index(ms)
            if not 0 <= key - self._offset < len(self._counts):
                self._cover(key, key + 1)
            self._counts[key - self._offset] += count
        self._count += count

    def merge(self, other: LatencySketch) -> None:
        """Add every value of ``other`` to this sketch (exact: bucket counts add up)."""
        if other.relative_accuracy != self.relative_accuracy:
            raise ValueError(
                "cannot merge sketches of different accuracy "
                f"({self.relative_accuracy} and {other.relative_accuracy})"
            )
        if other._counts:
            low = other._offset
            high = low + len(other._counts)
            self._cover(low, high)
            start, stop = low - self._offset, high - self._offset
            self._counts[start:stop] = map(add, self._counts[start:stop], other._counts)
        self._zero += other._zero
        self._count += other._count

    def copy(self) -> LatencySketch:
        """An independent sketch with the same contents."""
        twin = LatencySketch(self.relative_accuracy)
        twin._counts = list(self._counts)
        twin._offset, twin._zero, twin._count = self._offset, self._zero, self._count
        return twin

    @classmethod
    def combine(
        cls, sketches: Iterable[LatencySketch], relative_accuracy: float = DEFAULT_ACCURACY
    ) -> LatencySketch:
        """A new sketch holding the values of all ``sketches`` (which are left unchanged)."""
        total: LatencySketch | None = None
        for sketch in sketches:
            if total is None:
                total = sketch.copy()
            else:
                total.merge(sketch)
        return total if total is not None else cls(relative_accuracy)

    # ------------------------------------------------------------------ reading

    @property
    def count(self) -> int:
        """How many values were recorded."""
        return self._count

    def quantile(self, q: float) -> float:
        """The value at rank ``q * (count - 1)`` (0-based, sorted ascending), within the
        relative accuracy; 0 <= q <= 1. Raises ``ValueError`` on an empty sketch.

        For 1,000 values ``quantile(0.99)`` is the 990th smallest (rank 989.01 rounds down).
        """
        if not 0.0 <= q <= 1.0:
            raise ValueError(f"a quantile must be between 0 and 1, not {q}")
        if self._count == 0:
            raise ValueError("an empty sketch has no quantiles")
        rank = q * (self._count - 1)
        if self._zero > rank:
            return 0.0
        # seen[i + 1] counts the values up to bucket _offset + i; the first past the rank wins.
        seen = list(accumulate(self._counts, initial=self._zero))
        i = bisect_right(seen, rank) - 1
        if i >= len(self._counts):  # only reached through rounding at q = 1
            low, counts = self._trimmed()
            return self._value(low + len(counts) - 1)
        return self._value(self._offset + i)

    def count_above(self, x_ms: float) -> int:
        """How many values are certainly greater than ``x_ms``: those in buckets that lie wholly
        above it. Exact when ``x_ms`` is a bucket edge (see :meth:`upper_edge`); otherwise the
        values sharing ``x_ms``'s bucket are left out, so it never over-counts."""
        if x_ms < 0:
            return self._count
        if x_ms < MIN_MS:
            # Values in the first bucket start just above MIN_MS, so all of them exceed x_ms.
            return self._count - self._zero
        first = self._index(x_ms) + 1  # bucket index(x) ends at or above x; the next starts above
        return sum(self._counts[max(0, first - self._offset) :])

    def upper_edge(self, x_ms: float) -> float:
        """The upper edge of the bucket ``x_ms`` falls in (values at or below ``MIN_MS`` count
        as ``MIN_MS``).

        ``count_above(upper_edge(x))`` counts exactly the values above that edge, in every
        sketch of the same accuracy, which is what a fair comparison of two arms needs.
        """
        return math.exp(self._index(max(x_ms, MIN_MS)) * self._log_gamma)

    def mean(self) -> float:
        """The mean of the recorded values, within the relative accuracy. Raises on empty."""
        if self._count == 0:
            raise ValueError("an empty sketch has no mean")
        total = sum(self._value(self._offset + i) * n for i, n in enumerate(self._counts) if n)
        return total / self._count

    # ------------------------------------------------------------------ serialising

    def to_dict(self) -> dict[str, Any]:
        """A compact JSON-ready form: accuracy, zero count, first bucket index, dense counts.

        >>> s = LatencySketch()
        >>> s.add(1.0); s.add(1.03)
        >>> s.to_dict()
        {'v': 1, 'a': 0.01, 'z': 0, 'o': 0, 'c': [1, 0, 1]}
        """
        low, counts = self._trimmed()
        return {"v": _FORMAT_VERSION, "a": self.relative_accuracy, "z": self._zero, "o": low,
                "c": counts}  # fmt: skip

    def to_json(self) -> str:
        """:meth:`to_dict` as a JSON string without blanks."""
        return json.dumps(self.to_dict(), separators=(",", ":"))

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> LatencySketch:
        """Rebuild a sketch from :meth:`to_dict`; raises ``ValueError`` naming what is wrong."""
        if not isinstance(data, Mapping):
            raise ValueError("a latency sketch must be a JSON object")
        if data.get("v") != _FORMAT_VERSION:
            raise ValueError(f"unsupported latency sketch version {data.get('v')!r}")
        accuracy, zero, offset, counts = data.get("a"), data.get("z"), data.get("o"), data.get("c")
        if not isinstance(accuracy, int | float) or isinstance(accuracy, bool):
            raise ValueError("latency sketch: 'a' (relative accuracy) must be a number")
        if not _is_count(zero):
            raise ValueError("latency sketch: 'z' (zero count) must be an integer >= 0")
        if not isinstance(offset, int) or isinstance(offset, bool):
            raise ValueError("latency sketch: 'o' (first bucket) must be an integer")
        if not isinstance(counts, list) or len(counts) > MAX_BUCKETS:
            raise ValueError(f"latency sketch: 'c' must be a list of at most {MAX_BUCKETS} counts")
        if not all(_is_count(n) for n in counts):
            raise ValueError("latency sketch: every count in 'c' must be an integer >= 0")
        sketch = cls(float(accuracy))
        lowest, highest = sketch._index(MIN_MS), sketch._index(sys.float_info.max)
        if counts and not lowest <= offset <= offset + len(counts) - 1 <= highest:
            raise ValueError(
                "latency sketch: 'o' (first bucket) puts buckets beyond any latency "
                f"(at this accuracy from {lowest} to {highest})"
            )
        sketch._zero = int(zero)  # type: ignore[arg-type]  # checked by _is_count above
        sketch._counts = [int(n) for n in counts]
        sketch._offset = offset
        sketch._count = sketch._zero + sum(counts)
        return sketch

    @classmethod
    def from_json(cls, text: str | bytes) -> LatencySketch:
        """Rebuild a sketch from :meth:`to_json`; raises ``ValueError`` on malformed input."""
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValueError(f"a latency sketch must be JSON: {exc.msg}") from exc
        return cls.from_dict(data)

    # ------------------------------------------------------------------ internals

    def _index(self, ms: float) -> int:
        # The small slack puts a value that sits on an edge (up to rounding) in the bucket the
        # edge closes, so that count_above(upper_edge(x)) is exact despite floating point.
        return math.ceil(math.log(ms) / self._log_gamma - 1e-9)

    def _value(self, key: int) -> float:
        return 2.0 * math.exp(key * self._log_gamma) / (self._gamma + 1.0)

    def _cover(self, low: int, high: int) -> None:
        """Widen the dense counts to hold buckets ``low`` to ``high - 1``."""
        if not self._counts:
            self._counts = [0] * (high - low)
            self._offset = low
            return
        if low < self._offset:
            self._counts[:0] = [0] * (self._offset - low)
            self._offset = low
        missing = high - self._offset - len(self._counts)
        if missing > 0:
            self._counts.extend([0] * missing)

    def _trimmed(self) -> tuple[int, list[int]]:
        """The first bucket that holds a value and the counts from it to the last that does;
        ``(0, [])`` when none does."""
        counts = self._counts
        first = next((i for i, n in enumerate(counts) if n), None)
        if first is None:
            return 0, []
        end = len(counts) - next(i for i, n in enumerate(reversed(counts)) if n)
        return self._offset + first, counts[first:end]

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, LatencySketch):
            return NotImplemented
        return (
            self.relative_accuracy == other.relative_accuracy
            and self._zero == other._zero
            and self._trimmed() == other._trimmed()
        )

    __hash__ = None  # type: ignore[assignment]  # mutable, so not hashable

    def __repr__(self) -> str:
        return f"LatencySketch(count={self._count}, relative_accuracy={self.relative_accuracy})"


def _is_count(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0
