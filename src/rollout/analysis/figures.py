"""Numbers written for people: thousands separators and as many decimals as the size needs."""

from __future__ import annotations

import math

from rollout.plan.criteria import Unit


def count(n: float) -> str:
    """``4180`` -> ``4,180``."""
    return f"{round(n):,}"


def _decimals(x: float, digits: int = 2) -> int:
    """Decimals that show ``digits`` significant digits of ``x``, at least one below 10."""
    if x == 0 or not math.isfinite(x):
        return 1
    return max(1, digits - 1 - math.floor(math.log10(abs(x))))


def percent(ratio: float) -> str:
    """A fraction as a percentage with two significant digits (at least one decimal).

    >>> percent(0.0213), percent(0.01), percent(0.00052), percent(0.253), percent(0)
    ('2.1%', '1.0%', '0.052%', '25.3%', '0%')
    """
    if ratio == 0:
        return "0%"
    value = ratio * 100.0
    return f"{value:,.{min(_decimals(value), 4)}f}%"


def limit_percent(ratio: float) -> str:
    """A limit the user wrote, without invented decimals: ``0.01`` -> ``1%``, ``0.025`` ->
    ``2.5%``."""
    return f"{_plain(ratio * 100.0)}%"


def millis(ms: float) -> str:
    """``312.4`` -> ``312 ms``; ``45.67`` -> ``45.7 ms``; ``4.56`` -> ``4.6 ms``;
    ``1250`` -> ``1,250 ms``; below 1 ms two significant digits."""
    if ms >= 100:
        return f"{ms:,.0f} ms"
    if ms >= 1:
        return f"{ms:.1f} ms"
    return f"{ms:.{min(_decimals(ms), 4)}f} ms"


def number(x: float) -> str:
    """A plain measurement with three significant digits: ``41.234`` -> ``41.2``,
    ``1234.5`` -> ``1,234``, ``0.01234`` -> ``0.0123``."""
    if abs(x) >= 100:
        return f"{x:,.0f}"
    return f"{x:,.{min(_decimals(x, 3), 6)}f}"


def ratio(x: float) -> str:
    """A multiple, finer near 1 where small differences matter: ``1.05`` -> ``1.05x``,
    ``0.82`` -> ``0.82x``, ``2.13`` -> ``2.1x``, ``2.0`` -> ``2x``, ``13.37`` -> ``13.4x``;
    below 0.1 two significant digits: ``0.0031`` -> ``0.0031x``."""
    if 0 < x < 0.1:
        return f"{x:.2g}x"
    return f"{_plain(round(x, 2 if x < 2 else 1))}x"


def _plain(x: float) -> str:
    """Up to 6 decimals, trailing zeros dropped: ``2.50`` -> ``2.5``, ``3.0`` -> ``3``."""
    text = f"{x:,.6f}".rstrip("0").rstrip(".")
    return text if text not in ("", "-0") else "0"


def quantity(x: float, unit: Unit, *, as_limit: bool = False) -> str:
    """``x`` in its criterion unit: a percentage, milliseconds, or a plain number. Limits the
    user wrote keep their own digits (``1%``, ``300 ms``)."""
    if unit == "ratio":
        return limit_percent(x) if as_limit else percent(x)
    if unit == "ms":
        return f"{_plain(x)} ms" if as_limit else millis(x)
    return _plain(x) if as_limit else number(x)


def one_in(e_value: float) -> str:
    """The always-valid odds behind an e-value, rounded down to two significant digits and
    capped at a million: ``47.3`` -> ``1 in 47``, ``40.9`` -> ``1 in 40``, ``1234`` ->
    ``1 in 1,200``."""
    if e_value >= 1e6:
        return "1 in 1,000,000"
    whole = max(1, math.floor(e_value))
    if whole >= 100:
        step = 10 ** (math.floor(math.log10(whole)) - 1)
        whole = whole // step * step
    return f"1 in {whole:,}"
