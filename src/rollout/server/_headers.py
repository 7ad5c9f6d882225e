"""Entity tags: the ``ETag`` the API sends and the ``If-Match`` / ``If-None-Match`` it reads.

ETags are the version number in quotes (``"42"``): the environment's config version on
``/config``, the flag's (segment's) own version on a flag (segment). :data:`ANONYMOUS` is the
actor of a change whose request names none.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Annotated

from fastapi import Header, HTTPException

from rollout.errors import NotFound
from rollout.server.problems import FieldProblem, PreconditionFailed, problem_json

ANONYMOUS = "anonymous"
"""The actor recorded for a change made without an ``X-Rollout-Actor`` header."""

_TAG = re.compile(r'^(?:W/)?"?(\d{1,18})"?$')

IfMatchHeader = Annotated[
    str | None,
    Header(
        alias="If-Match",
        description='Only change it if its version is this (`"3"`); `*`: only if it exists.',
    ),
]


def etag(version: int) -> str:
    """``"42"`` for version 42."""
    return f'"{version}"'


def etag_matches(if_none_match: str | None, version: int) -> bool:
    """Whether an ``If-None-Match`` header names ``version`` (weak tags and ``*`` count).

    >>> etag_matches('"3", W/"4"', 4), etag_matches('"3"', 4), etag_matches("*", 0)
    (True, False, True)
    """
    if not if_none_match:
        return False
    for part in if_none_match.split(","):
        tag = part.strip()
        if tag == "*":
            return True
        match = _TAG.match(tag)
        if match and int(match.group(1)) == version:
            return True
    return False


def parse_version_tag(value: str | None) -> int | None:
    """The version an ``ETag``/``Last-Event-ID`` value names, ``None`` if it names none."""
    match = _TAG.match(value.strip()) if value else None
    return int(match.group(1)) if match else None


def expected_version(if_match: str | None, current: Callable[[], int]) -> int | None:
    """The ``expected_version`` an ``If-Match`` header asks for.

    ``None`` without the header; the number for ``"3"``; for ``*`` the current version
    (``current()``; a missing flag fails the precondition). A malformed value is a 422.
    """
    if if_match is None:
        return None
    if if_match.strip() == "*":
        try:
            return current()
        except NotFound as exc:
            raise PreconditionFailed(f"If-Match: * but {exc}") from exc
    version = parse_version_tag(if_match)
    if version is None:
        problem = FieldProblem(
            ("header", "If-Match"), 'expected a version in quotes, like "3", or *', "value_error"
        )
        raise HTTPException(status_code=422, detail=[problem_json(problem)])
    return version
