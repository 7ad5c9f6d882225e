"""Reading the dashboard's HTML forms: ``application/x-www-form-urlencoded`` bodies only.

The dashboard's forms send a few short text fields, so the body is read whole (up to
:data:`MAX_FORM_BYTES`) and parsed with the standard library; no multipart parser is needed.

A form must come from the dashboard's own pages. Another site's page can make a browser post a
form anywhere (no preflight asks first), and with authentication off nothing else would stop it
from aborting a rollout on a server at ``127.0.0.1``; so a post that the browser says comes from
another site (``Sec-Fetch-Site``, or an ``Origin`` that is not this host) is refused.
"""

from __future__ import annotations

from urllib.parse import parse_qsl

from fastapi import Request

from rollout.server.auth import from_this_site

MAX_FORM_BYTES = 16 * 1024
MAX_FIELDS = 20
FORM_TYPE = "application/x-www-form-urlencoded"


class FormProblem(Exception):
    """The request is not a form the dashboard can read; ``status`` is the HTTP status to
    answer with (413 too large, 415 not a form, 400 malformed)."""

    def __init__(self, status: int, message: str) -> None:
        self.status = status
        self.message = message
        super().__init__(message)


def check_same_site(request: Request) -> None:
    """:class:`FormProblem` (403) when the browser says the form comes from another site."""
    if not from_this_site(request):
        raise FormProblem(403, "a form must be sent from the dashboard's own pages")


async def read_form(request: Request) -> dict[str, str]:
    """The fields of a URL-encoded form body (the last value of a repeated field wins), sent
    from this site (see :func:`check_same_site`)."""
    check_same_site(request)
    kind = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if kind != FORM_TYPE:
        raise FormProblem(415, f"expected an HTML form ({FORM_TYPE}), got {kind or 'nothing'}")
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM_BYTES:
            raise FormProblem(413, f"the form is larger than {MAX_FORM_BYTES} bytes")
    try:
        pairs = parse_qsl(
            body.decode("utf-8"),
            keep_blank_values=True,
            strict_parsing=False,
            max_num_fields=MAX_FIELDS,
        )
    except (UnicodeDecodeError, ValueError) as exc:
        raise FormProblem(400, f"the form cannot be read: {exc}") from None
    return dict(pairs)


def safe_next(target: str | None, default: str = "/") -> str:
    """``target`` if it is a path on this site (``/rollouts/x``), else ``default``: a sign-in
    must never redirect to another site (``//evil.example``, ``https://...``).

    >>> safe_next("/rollouts/ro_1?x=1"), safe_next("//evil.example"), safe_next("https://x")
    ('/rollouts/ro_1?x=1', '/', '/')
    """
    if not target or not target.startswith("/") or target.startswith("//"):
        return default
    if "\\" in target or any(ord(c) < 32 for c in target):
        return default
    return target
