"""Plan commands: init, validate, render, schema (filled in by the plan work)."""

from __future__ import annotations
