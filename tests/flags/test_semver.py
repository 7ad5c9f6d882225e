from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rollout.flags.semver import SemverError, Version, parse, parse_or_none

# The precedence chain given as the example in semver.org §11.
SEMVER_ORG_CHAIN = [
    "1.0.0-alpha",
    "1.0.0-alpha.1",
    "1.0.0-alpha.beta",
    "1.0.0-beta",
    "1.0.0-beta.2",
    "1.0.0-beta.11",
    "1.0.0-rc.1",
    "1.0.0",
    "1.0.1",
    "1.1.0",
    "2.0.0",
    "10.0.0",
]


def test_semver_org_precedence_chain() -> None:
    versions = [parse(v) for v in SEMVER_ORG_CHAIN]
    for lower, higher in itertools.pairwise(versions):
        assert lower < higher and higher > lower and lower <= higher and lower != higher
    backwards = versions[::-1]
    assert sorted(backwards) == versions


@pytest.mark.parametrize(
    "text",
    [
        "1.2.3",
        "0.0.0",
        "1.0.0-0.3.7",
        "1.0.0-x.7.z.92",
        "1.0.0-x-y-z.--",
        "1.0.0+20130313144700",
        "1.0.0-beta+exp.sha.5114f85",
        "1.0.0+21AF26D3----117B344092BD",
        "1.0.0+001",
    ],
)
def test_valid_versions_round_trip(text: str) -> None:
    assert str(parse(text)) == text


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("1.2", "MAJOR.MINOR.PATCH"),
        ("1.2.3.4", "MAJOR.MINOR.PATCH"),
        ("v1.2.3", "major"),
        ("01.2.3", "leading zero"),
        ("1.02.3", "leading zero"),
        ("1.2.3-01", "leading zero"),
        ("1.2.3-", "empty"),
        ("1.2.3-a..b", "empty"),
        ("1.2.3+", "empty"),
        ("1.2.3-beta_1", "[0-9A-Za-z-]"),
        ("1.2.3+build!", "[0-9A-Za-z-]"),
        ("1.2.-3", "patch"),
        ("", "MAJOR.MINOR.PATCH"),
        ("1.٢.3", "minor"),
    ],
)
def test_invalid_versions_say_why(text: str, why: str) -> None:
    with pytest.raises(SemverError, match=why.replace("[", r"\[").replace("]", r"\]")):
        parse(text)
    assert parse_or_none(text) is None


def test_build_metadata_is_ignored_for_precedence() -> None:
    assert parse("1.0.0+a") == parse("1.0.0+b") == parse("1.0.0")
    assert hash(parse("1.0.0+a")) == hash(parse("1.0.0"))
    assert not parse("1.0.0+a") < parse("1.0.0")


numbers = st.integers(min_value=0, max_value=50)
identifiers = st.one_of(
    numbers.map(str), st.from_regex(r"[A-Za-z-][0-9A-Za-z-]{0,3}", fullmatch=True)
)
versions = st.builds(
    Version,
    numbers,
    numbers,
    numbers,
    st.lists(identifiers, max_size=3).map(tuple),
)


@given(versions, versions, versions)
def test_precedence_is_a_total_order(a: Version, b: Version, c: Version) -> None:
    assert sum([a < b, a == b, a > b]) == 1
    if a <= b and b <= c:
        assert a <= c


@given(versions)
def test_str_parses_back_to_an_equal_version(v: Version) -> None:
    assert parse(str(v)) == v


@given(versions, st.from_regex(r"[0-9A-Za-z-]+", fullmatch=True))
def test_a_pre_release_ranks_below_its_release(v: Version, ident: str) -> None:
    release = Version(v.major, v.minor, v.patch)
    assert Version(v.major, v.minor, v.patch, (ident,)) < release
