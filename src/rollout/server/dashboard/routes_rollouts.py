"""The rollout pages: the list, one rollout, its operator verbs, and its document.

Every verb is a plain form POST answered with a redirect back to the page (303), so the page
works without JavaScript; a verb that no longer applies (the rollout moved on since the page was
drawn) comes back as the page with the reason (409). The role behind the viewer's token is
checked before anything is queued: approver for approve/reject, deployer for the rest (admin for
all).
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from rollout.engine.controller import send_verb
from rollout.errors import EngineError, NotFound, RolloutError, StoreError
from rollout.server.dashboard.access import DECIDE, OPERATE, Permission, Viewer
from rollout.server.dashboard.document import RolloutDocument, rollout_document
from rollout.server.dashboard.forms import FormProblem, read_form
from rollout.server.dashboard.site import NO_STORE, Dashboard, context_of, dashboard_of, who
from rollout.server.dashboard.views import list_fingerprint, rollout_page, rollout_rows

router = APIRouter(include_in_schema=False)

WAITING_WORDS = {
    "bake": "of this stage's bake",
    "validation": "of post-deployment validation",
    "approval": "until the approval request times out",
}

VERB_PERMISSIONS: dict[str, Permission] = {
    "approve": DECIDE,
    "reject": DECIDE,
    "pause": OPERATE,
    "resume": OPERATE,
    "promote": OPERATE,
    "abort": OPERATE,
    "retry": OPERATE,
}

DONE_NOTICES = {
    "approve": "Approval recorded. The controller moves on at its next tick.",
    "reject": "Rejection recorded. The controller stops the rollout at its next tick.",
    "pause": "Pause requested. The controller applies it at its next tick.",
    "resume": "Resume requested. The controller applies it at its next tick.",
    "promote": "Promotion requested. The controller ends this bake at its next tick.",
    "abort": "Abort requested. The controller rolls back at its next tick.",
    "retry": "Retry requested. The controller runs what failed again at its next tick.",
}
"""What the page says after a verb was accepted (fixed words: nothing from the URL is shown)."""

MAX_COMMENT = 2000


def _store_trouble(board: Dashboard, viewer: Viewer, exc: StoreError) -> Response:
    return board.error(viewer, 503, "The database is unavailable", str(exc))


@router.get("/", response_class=Response)
def rollouts(request: Request) -> Response:
    """Every rollout, newest first, live."""
    board, viewer = dashboard_of(request), who(request)
    if not isinstance(viewer, Viewer):
        return viewer
    store = context_of(request).store
    try:
        since = list_fingerprint(store)
        rows = rollout_rows(store, board.clock())
    except StoreError as exc:
        return _store_trouble(board, viewer, exc)
    except RolloutError as exc:  # a rollout whose stored plan or state cannot be read
        return board.error(viewer, 500, "The rollouts cannot be listed", str(exc))
    return board.page("rollouts.html", viewer, section="rollouts", rows=rows, since=since)


def _render_rollout(
    request: Request,
    viewer: Viewer,
    rollout_id: str,
    *,
    status: int = 200,
    notice: str = "",
    error: str = "",
) -> Response:
    board = dashboard_of(request)
    store = context_of(request).store
    try:
        page = rollout_page(store, rollout_id, viewer, board.clock())
    except NotFound:
        return board.error(viewer, 404, "No such rollout", f"There is no rollout {rollout_id}.")
    except StoreError as exc:
        return _store_trouble(board, viewer, exc)
    except RolloutError as exc:
        return board.error(viewer, 500, "This rollout cannot be shown", str(exc))
    return board.page(
        "rollout.html",
        viewer,
        status=status,
        section="rollouts",
        page=page,
        notice=notice,
        error=error,
        waiting_words=WAITING_WORDS,
    )


@router.get("/rollouts/{rollout_id}", response_class=Response)
def rollout(request: Request, rollout_id: str, done: str = "") -> Response:
    """One rollout: where it is, its criteria and charts, its events, and the verbs that
    apply now."""
    viewer = who(request)
    if not isinstance(viewer, Viewer):
        return viewer
    return _render_rollout(request, viewer, rollout_id, notice=DONE_NOTICES.get(done, ""))


@router.post("/rollouts/{rollout_id}/{verb}", response_class=Response)
async def give_verb(request: Request, rollout_id: str, verb: str) -> Response:
    """Queue an operator verb (or record an approval) as the signed-in viewer."""
    board, viewer = dashboard_of(request), who(request)
    if not isinstance(viewer, Viewer):
        return viewer
    permission = VERB_PERMISSIONS.get(verb)
    if permission is None:
        return board.error(viewer, 404, "No such action", f"Rollouts have no action {verb!r}.")
    if not viewer.may(permission):
        return board.error(
            viewer, 403, "Not allowed", viewer.refusal(permission), back=f"/rollouts/{rollout_id}"
        )
    try:
        form = await read_form(request)
    except FormProblem as exc:
        return board.error(viewer, exc.status, "That form cannot be read", exc.message)
    comment = form.get("comment", "").strip()
    environment = form.get("environment", "").strip() or None
    if len(comment) > MAX_COMMENT:
        error = f"The comment is longer than {MAX_COMMENT} characters."
        return await run_in_threadpool(
            _render_rollout, request, viewer, rollout_id, status=422, error=error
        )
    if verb == "reject" and not comment:
        error = "Say why you reject it: the comment goes to the audit trail and the team."
        return await run_in_threadpool(
            _render_rollout, request, viewer, rollout_id, status=422, error=error
        )
    store = context_of(request).store
    try:
        await run_in_threadpool(
            send_verb, store, rollout_id, verb, viewer.name, comment, environment
        )
    except NotFound:
        return board.error(viewer, 404, "No such rollout", f"There is no rollout {rollout_id}.")
    except EngineError as exc:
        return await run_in_threadpool(
            _render_rollout, request, viewer, rollout_id, status=409, error=str(exc)
        )
    except StoreError as exc:
        return _store_trouble(board, viewer, exc)
    return RedirectResponse(f"/rollouts/{rollout_id}?done={verb}", status_code=303)


def _document(
    request: Request, rollout_id: str
) -> tuple[Dashboard, Viewer, RolloutDocument] | Response:
    """The rollout's document for the viewer, or the page that says why there is none."""
    board, viewer = dashboard_of(request), who(request)
    if not isinstance(viewer, Viewer):
        return viewer
    try:
        doc = rollout_document(context_of(request).store, rollout_id)
    except NotFound:
        return board.error(viewer, 404, "No such rollout", f"There is no rollout {rollout_id}.")
    except StoreError as exc:
        return _store_trouble(board, viewer, exc)
    return board, viewer, doc


@router.get("/rollouts/{rollout_id}/document", response_class=Response)
def document(request: Request, rollout_id: str) -> Response:
    """The rollout document, with the rollout's progress filled in."""
    found = _document(request, rollout_id)
    if isinstance(found, Response):
        return found
    board, viewer, doc = found
    return board.page(
        "document.html",
        viewer,
        section="rollouts",
        rollout_id=doc.rollout_id,
        name=doc.name,
        version=doc.version,
        html=doc.html(),
    )


@router.get("/rollouts/{rollout_id}/document.md", response_class=Response)
def document_markdown(request: Request, rollout_id: str) -> Response:
    """The same document as a Markdown file."""
    found = _document(request, rollout_id)
    if isinstance(found, Response):
        return found
    doc = found[2]
    headers = {**NO_STORE, "Content-Disposition": f'attachment; filename="{doc.filename}"'}
    return Response(doc.markdown, media_type="text/markdown; charset=utf-8", headers=headers)
