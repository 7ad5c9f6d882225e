"""``${VAR}`` references in a plan, filled in from the environment only at the moment of use.

A plan keeps secrets out of the repository by naming them: ``Authorization: Bearer
${API_TOKEN}``, ``slack://${SLACK_TOKEN}/#deploys``. :func:`expand` fills the references in when
a check runs or a message is sent; the expanded text goes straight to the request and is never
kept on an object, logged, or written to the audit trail. Messages show the text *as written*
(``${API_TOKEN}`` stays ``${API_TOKEN}``), and :class:`Scrubber` masks any expanded value that
an outside library or server might echo back in an error. :func:`scrubber_for` builds the
scrubber for every variable a text names: given a whole plan, it masks what the plan's scripts
print of the plan's secrets before anything reaches the audit trail.

>>> expand("Bearer ${TOKEN}", {"TOKEN": "s3cr3t-value"}).text
'Bearer s3cr3t-value'
>>> scrub = expand("Bearer ${TOKEN}", {"TOKEN": "s3cr3t-value"}).scrubber
>>> scrub("401: bad token s3cr3t-value")
'401: bad token ****'
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

MASK = "****"

REFERENCE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")

# Values this short are not masked in echoed text: masking "1" would garble every number in a
# message, and a secret of three characters protects nothing anyway.
_SHORTEST_MASKED = 4


class MissingVariable(LookupError):
    """A ``${NAME}`` reference whose variable is not set; ``names`` lists every missing one."""

    def __init__(self, names: Iterable[str]) -> None:
        self.names: tuple[str, ...] = tuple(sorted(set(names)))
        listed = ", ".join(f"${{{name}}}" for name in self.names)
        verb = "is" if len(self.names) == 1 else "are"
        super().__init__(f"{listed} {verb} not set in the environment")


@dataclass(frozen=True)
class Scrubber:
    """Masks the expanded secret values in text meant for people (errors, response bodies)."""

    values: tuple[str, ...] = ()

    def __call__(self, text: str) -> str:
        # Longest first, so a value containing another is masked whole.
        for value in sorted(self.values, key=len, reverse=True):
            text = text.replace(value, MASK)
        return text

    def __add__(self, other: Scrubber) -> Scrubber:
        return Scrubber(tuple(dict.fromkeys((*self.values, *other.values))))

    def data(self, value: Any) -> Any:
        """``value`` (JSON-like: strings, numbers, lists, dicts, nested) with every string in
        it masked; keys and everything that is not a string stay as they are.

        >>> Scrubber(("s3cr3t-value",)).data({"lines": ["got s3cr3t-value"], "n": 1})
        {'lines': ['got ****'], 'n': 1}
        """
        if not self.values:
            return value
        if isinstance(value, str):
            return self(value)
        if isinstance(value, list | tuple):
            return [self.data(item) for item in value]
        if isinstance(value, dict):
            return {key: self.data(item) for key, item in value.items()}
        return value


NO_SECRETS = Scrubber()
"""The scrubber that masks nothing: for text that was given no secret."""


@dataclass(frozen=True)
class Expanded:
    """Text with its references filled in, and the scrubber for the values used."""

    text: str
    scrubber: Scrubber


def references(text: str) -> tuple[str, ...]:
    """The variable names ``text`` refers to, in order of first use.

    >>> references("${A}:${B}@host/${A}")
    ('A', 'B')
    """
    return tuple(dict.fromkeys(REFERENCE.findall(text)))


def expand(text: str, environ: Mapping[str, str] | None = None) -> Expanded:
    """``text`` with every ``${NAME}`` replaced by ``environ[NAME]`` (default ``os.environ``).

    Raises :class:`MissingVariable` naming every unset variable (never a value). Text without
    references comes back unchanged. Only the ``${NAME}`` form is a reference: ``$NAME`` and
    ``$(cmd)`` are left alone.
    """
    values = os.environ if environ is None else environ
    names = references(text)
    missing = [name for name in names if name not in values]
    if missing:
        raise MissingVariable(missing)
    expanded = REFERENCE.sub(lambda match: values[match.group(1)], text)
    return Expanded(expanded, scrubber_for(text, values))


def scrubber_for(text: str, environ: Mapping[str, str] | None = None) -> Scrubber:
    """A scrubber for the values, as set in ``environ`` (default ``os.environ``), of every
    variable ``text`` refers to. Unset variables are skipped: nothing of theirs can be echoed.

    Give it a whole plan's text to mask whatever a script the plan runs may print of the
    secrets the plan names (a script reads its environment, not only its own references).

    >>> scrubber_for("run: ./deploy.sh ${TOKEN} ${UNSET}", {"TOKEN": "s3cr3t-value"}).values
    ('s3cr3t-value',)
    """
    values = os.environ if environ is None else environ
    found = (values.get(name) for name in references(text))
    return Scrubber(
        tuple(dict.fromkeys(v for v in found if v is not None and len(v) >= _SHORTEST_MASKED))
    )


def expand_all(
    texts: Mapping[str, str], environ: Mapping[str, str] | None = None
) -> tuple[dict[str, str], Scrubber]:
    """Every value of ``texts`` expanded, and one scrubber for all of them.

    Raises :class:`MissingVariable` naming every unset variable across all values.
    """
    missing: list[str] = []
    out: dict[str, str] = {}
    scrubber = Scrubber()
    for name, text in texts.items():
        try:
            done = expand(text, environ)
        except MissingVariable as exc:
            missing.extend(exc.names)
            continue
        out[name] = done.text
        scrubber = scrubber + done.scrubber
    if missing:
        raise MissingVariable(missing)
    return out, scrubber
