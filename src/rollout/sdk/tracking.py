"""Which flag arms served a request: a scope that evaluations report to, through a ContextVar.

While a :class:`RequestScope` is active (``with client.request_scope(): ...``), every evaluation
of that client in the same context -- the same thread, the same asyncio task, and the tasks and
threads started from it with a copy of the context (``asyncio.create_task``,
``asyncio.to_thread``, Starlette's thread pool) -- adds its (flag, variant) pair to the scope.
When the scope ends, the request's outcome (duration in ms, failed or not) is recorded once for
every arm it saw, with the request's *subject*: the ``targeting_key`` of the first context
evaluated in the scope that has one (or what the code handling the request set in
:attr:`RequestScope.subject`). The recorder counts a failing subject once per arm and telemetry
window, so one client retrying in a loop is one failing subject, not a regression. An
evaluation that served the caller's default (``variant`` is ``None``: errors, or a switched-off
flag without an off variant) belongs to no arm and is not counted.

Worked example: a request evaluates ``new-checkout`` (variant ``on``) twice and ``dark-mode``
(``off``) once, takes 42 ms and ends with a 500; then ``new-checkout/on`` and ``dark-mode/off``
each count 1 request, 1 error and one 42 ms latency; if the contexts carried
``targeting_key: "u-17"``, ``u-17`` is the failing subject in both arms.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from contextvars import ContextVar, Token
from types import TracebackType
from typing import Any

__all__ = ["RequestScope"]

Recorder = Callable[[str, str, float, bool, str | None], None]
"""``record(flag, variant, latency_ms, error, subject)``."""


class RequestScope:
    """One request's attribution scope; see the module docstring.

    Use it as a context manager (an exception leaving the block counts as an error), or call
    :meth:`activate` and later :meth:`finish` when the request ends elsewhere (a WSGI body that
    is iterated after the application returned). ``error`` may be set by the code handling the
    request to count a failure that raised nothing; ``subject`` may be set by it to name who
    made the request when no evaluation did (a user id, a client id).
    """

    __slots__ = (
        "_finished",
        "_record",
        "_started",
        "_token",
        "_var",
        "arms",
        "error",
        "subject",
    )

    def __init__(self, var: ContextVar[RequestScope | None], record: Recorder) -> None:
        self._var = var
        self._record = record
        self._token: Token[RequestScope | None] | None = None
        self._started = time.perf_counter()
        self._finished = False
        self.arms: set[tuple[str, str]] = set()
        self.error = False
        self.subject: str | None = None

    def note(self, flag: str, variant: str, context: Mapping[str, Any]) -> None:
        """An evaluation served ``flag``'s ``variant`` for ``context`` in this request: add
        the arm, and take the context's ``targeting_key`` as the subject if none is known."""
        self.arms.add((flag, variant))
        if self.subject is None:
            key = context.get("targeting_key")
            if isinstance(key, str | int) and not isinstance(key, bool) and key != "":
                self.subject = str(key)

    def activate(self) -> None:
        """Make this the current scope of the running context and start the clock."""
        self._started = time.perf_counter()
        self._token = self._var.set(self)

    def finish(self, *, error: bool = False) -> float:
        """End the request: record its outcome for every arm seen (once; later calls do
        nothing). Returns the request's duration in ms."""
        elapsed_ms = (time.perf_counter() - self._started) * 1000.0
        if self._finished:
            return elapsed_ms
        self._finished = True
        failed = error or self.error
        for flag, variant in self.arms:
            self._record(flag, variant, elapsed_ms, failed, self.subject)
        return elapsed_ms

    def __enter__(self) -> RequestScope:
        self.activate()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._token is not None:
            self._var.reset(self._token)
            self._token = None
        self.finish(error=exc is not None)
