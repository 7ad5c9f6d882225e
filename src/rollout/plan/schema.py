"""The JSON Schema of a rollout plan, for editors (completion, hover help) and other tools.

Save it next to the plan (``rollout schema -o rollout.schema.json``) and point the YAML language
server at it with a first line ``# yaml-language-server: $schema=rollout.schema.json``.

The schema is pydantic's, for validation, with the three shorthands the model accepts added, so
that an editor does not mark them wrong:

- ``audience: 5%`` (a stage's audience as a bare percentage),
- ``approval: true`` (an environment's approval as a yes/no),
- ``when: started`` (a communication row's moment as one word instead of a list).

It checks shape only: criteria, durations and cross-references (a stage's flag exists, a metric
is defined) are checked by ``rollout validate``, which reports them with line and column.
"""

from __future__ import annotations

import copy
from typing import Any

from rollout.plan.model import Plan

DIALECT = "https://json-schema.org/draft/2020-12/schema"
TITLE = "Rollout plan"


def plan_json_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) that every valid plan's YAML data satisfies.

    >>> schema = plan_json_schema()
    >>> schema["$schema"], schema["title"], schema["required"][:2]
    ('https://json-schema.org/draft/2020-12/schema', 'Rollout plan', ['name', 'overview'])
    """
    schema = copy.deepcopy(Plan.model_json_schema(mode="validation"))
    defs: dict[str, Any] = schema["$defs"]
    percent = defs["Audience"]["properties"]["percent"]["anyOf"][0]
    defs["Audience"] = _or_shorthand(defs["Audience"], percent)
    defs["Approval"] = _or_shorthand(
        defs["Approval"], {"type": "boolean", "description": "true: approval required."}
    )
    when = defs["Announcement"]["properties"]["when"]
    defs["Announcement"]["properties"]["when"] = {
        "anyOf": [when["items"], when],
        "description": "One moment, or a list of them.",
    }
    return {"$schema": DIALECT, **schema, "title": TITLE}


def _or_shorthand(full: dict[str, Any], shorthand: dict[str, Any]) -> dict[str, Any]:
    return {
        "title": full.get("title"),
        "description": full.get("description"),
        "anyOf": [full, shorthand],
    }
