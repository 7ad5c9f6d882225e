"""The rollout document as a web page: :func:`~rollout.plan.render.render_document` with the
rollout's progress, turned from Markdown into HTML.

Raw HTML in the Markdown is not passed through (a plan's text is shown as text), links keep
markdown-it's check against ``javascript:`` and the like, and the template's checklists
(``- [x] ...``) become ticked and empty boxes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from markdown_it import MarkdownIt
from markupsafe import Markup

from rollout.engine.controller import rollout_progress
from rollout.engine.runner import load_stored
from rollout.plan.render import render_document
from rollout.store import Store

_MARKDOWN = MarkdownIt("commonmark", {"html": False, "typographer": False}).enable("table")
_BOXES = re.compile(r"<li>\[( |x|X)\] ")
_COMMENT = re.compile(r"^<!--.*?-->\n", re.MULTILINE)


@dataclass(frozen=True)
class RolloutDocument:
    """The document of one rollout: its ``markdown`` and a file name to download it as."""

    rollout_id: str
    name: str
    version: str
    markdown: str

    @property
    def filename(self) -> str:
        """``checkout-2.0.md``: the plan name and version, safe as a file name."""
        stem = re.sub(r"[^A-Za-z0-9._-]+", "-", f"{self.name}-{self.version}").strip("-.")
        return f"{stem or 'rollout'}.md"

    def html(self) -> Markup:
        """The document as HTML (escaped: raw HTML in the Markdown stays text)."""
        # The document's HTML comments (a note for people editing the file) are not content.
        rendered = _MARKDOWN.render(_COMMENT.sub("", self.markdown))

        def box(match: re.Match[str]) -> str:
            ticked = match.group(1) != " "
            mark = "☑" if ticked else "☐"
            state, said = ("done", "done: ") if ticked else ("open", "not done: ")
            return (
                f'<li class="check {state}"><span class="box" aria-hidden="true">{mark}</span>'
                f'<span class="visually-hidden">{said}</span> '
            )

        return Markup(_BOXES.sub(box, rendered))


def rollout_document(store: Store, rollout_id: str) -> RolloutDocument:
    """The rendered document of the rollout as far as it got; ``NotFound`` for an unknown id."""
    stored = load_stored(store.get_rollout(rollout_id))
    progress = rollout_progress(store, rollout_id)
    record = stored.record
    markdown = render_document(stored.plan, progress)
    return RolloutDocument(record.id, record.name, record.version, markdown)
