"""The flags page: every flag of an environment, its kill switch and its rollout %.

Changes go through the server's :class:`~rollout.server.flag_service.FlagService`, the one write
path for flags: each is validated, stored with who made it in the flag's history and the audit
trail, and pushed to every SDK streaming the environment. They need the deployer role.
"""

from __future__ import annotations

import math
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from rollout.errors import Conflict, FlagError, NotFound, StoreError
from rollout.server.dashboard.access import CHANGE_FLAGS, Viewer
from rollout.server.dashboard.flag_views import FlagsPage, flags_page
from rollout.server.dashboard.forms import FormProblem, read_form
from rollout.server.dashboard.site import context_of, dashboard_of, who

router = APIRouter(include_in_schema=False)

CHANGES = ("kill", "revive", "rollout")
SAVED = "Saved. Every SDK streaming this environment has the change now."


def render_flags(
    request: Request,
    viewer: Viewer,
    environment: str | None,
    *,
    status: int = 200,
    notice: str = "",
    error: str = "",
) -> Response:
    board = dashboard_of(request)
    try:
        page = flags_page(context_of(request).service, environment)
    except FlagError as exc:  # not an environment name
        return board.error(viewer, 404, "No such environment", str(exc), section="flags")
    except StoreError as exc:
        return board.error(viewer, 503, "The database is unavailable", str(exc), section="flags")
    return board.page(
        "flags.html",
        viewer,
        status=status,
        section="flags",
        notice=notice,
        error=error,
        **flag_table_values(viewer, page),
    )


def flag_table_values(viewer: Viewer, page: FlagsPage) -> dict[str, Any]:
    """What the flags table shows beside the flags: whether the viewer may change them."""
    allowed = viewer.may(CHANGE_FLAGS)
    return {
        "page": page,
        "can_change": allowed,
        "refusal": "" if allowed else viewer.refusal(CHANGE_FLAGS),
    }


@router.get("/flags", response_class=Response)
def flags(request: Request, env: str | None = None, done: str = "") -> Response:
    """The flags of ``env`` (default: the first environment that has flags)."""
    viewer = who(request)
    if not isinstance(viewer, Viewer):
        return viewer
    return render_flags(request, viewer, env, notice=SAVED if done else "")


def _percent(text: str) -> float:
    """The rollout % typed into the form; ``FlagError`` when it is not 0..100."""
    try:
        value = float(text)
    except ValueError:
        raise FlagError(f"a rollout % is a number from 0 to 100, not {text!r}", "percent") from None
    if not math.isfinite(value):
        raise FlagError(f"a rollout % is a number from 0 to 100, not {text!r}", "percent")
    return value


@router.post("/flags/{environment}/{key}/{change}", response_class=Response)
async def change_flag(request: Request, environment: str, key: str, change: str) -> Response:
    """Kill, revive or re-ramp one flag as the signed-in viewer."""
    board, viewer = dashboard_of(request), who(request)
    if not isinstance(viewer, Viewer):
        return viewer
    if change not in CHANGES:
        return board.error(viewer, 404, "No such change", f"Flags have no change {change!r}.")
    if not viewer.may(CHANGE_FLAGS):
        refusal = viewer.refusal(CHANGE_FLAGS)
        return board.error(viewer, 403, "Not allowed", refusal, back="/flags", section="flags")
    try:
        form = await read_form(request)
    except FormProblem as exc:
        return board.error(viewer, exc.status, "That form cannot be read", exc.message)
    service = context_of(request).service
    try:
        if change == "rollout":
            percent = _percent(form.get("percent", "").strip())
            await run_in_threadpool(
                lambda: service.set_rollout(environment, key, percent, viewer.name)
            )
        else:
            on = change == "revive"
            await run_in_threadpool(lambda: service.set_enabled(environment, key, on, viewer.name))
    except NotFound:
        error = f"There is no flag {key} in {environment}."
        return await run_in_threadpool(
            lambda: render_flags(request, viewer, environment, status=404, error=error)
        )
    except FlagError as exc:
        error = f"{key} was not changed: {exc}"
        return await run_in_threadpool(
            lambda: render_flags(request, viewer, environment, status=422, error=error)
        )
    except Conflict as exc:
        error = f"{key} was not changed: others kept changing it at the same time ({exc})"
        return await run_in_threadpool(
            lambda: render_flags(request, viewer, environment, status=409, error=error)
        )
    except StoreError as exc:
        return board.error(viewer, 503, "The database is unavailable", str(exc), section="flags")
    return RedirectResponse(f"/flags?env={quote(environment, safe='')}&done=1", status_code=303)
