"""The evaluator: a config compiled once into closures, then evaluated many times, never raising.

Usage::

    compiled = compile_config(config)          # once per config version
    result = compiled.evaluate("new-checkout", {"targeting_key": "user-42", "country": "NL"},
                               False)
    result.value, result.variant, result.reason   # True, 'on', Reason.TARGETING_MATCH

Evaluation order (ARCHITECTURE.md): off -> targeting rules in order -> split -> default.
Reasons and error codes are OpenFeature's:

==================  ===============================================================  ===========
reason              when                                                             rule_index
==================  ===============================================================  ===========
DISABLED            the flag is off; value is the off variant's, or the caller's     None
                    default (variant None) when the flag has no off variant
TARGETING_MATCH     a rule matched and serves a variant                              the rule's
SPLIT               a percentage split decided (a rule's or the fallthrough's)       rule or None
DEFAULT             no rule matched; the fallthrough serves a variant                None
STATIC              the flag has no rules and its fallthrough serves a variant       None
ERROR               see ``error_code``; value is always the caller's default         rule or None
==================  ===============================================================  ===========

Error codes: FLAG_NOT_FOUND (no such flag), TYPE_MISMATCH (the caller's default is not of the
flag's kind; a ``None`` default is never a mismatch), TARGETING_KEY_MISSING (a split needs the
bucket-by attribute and the context lacks it, or has it empty), INVALID_CONTEXT (the context is
not a mapping, or the bucket-by value is neither a string nor an integer), PARSE_ERROR /
PROVIDER_NOT_READY (a :meth:`CompiledConfig.failing` config: the document did not parse, or there
is none yet), GENERAL (anything unexpected; the message says what).

Speed: a static result (off, a rule's variant, the fallthrough variant) is an :class:`Evaluation`
allocated at compile time, so evaluating it allocates nothing; a split allocates only the text it
hashes. Values are shared between evaluations: do not mutate a JSON value you are handed.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from enum import StrEnum
from types import NoneType
from typing import Any

import mmh3

from rollout.flags import _operators
from rollout.flags.bucketing import cumulative_bounds
from rollout.flags.model import Flag, FlagConfig, FlagKind, Serve, kind_of

Context = Mapping[str, Any]


class Reason(StrEnum):
    """Why a value was served; OpenFeature's resolution reasons, spelled the same."""

    STATIC = "STATIC"
    DEFAULT = "DEFAULT"
    TARGETING_MATCH = "TARGETING_MATCH"
    SPLIT = "SPLIT"
    CACHED = "CACHED"
    DISABLED = "DISABLED"
    UNKNOWN = "UNKNOWN"
    STALE = "STALE"
    ERROR = "ERROR"


class ErrorCode(StrEnum):
    """What went wrong when ``reason`` is ERROR; OpenFeature's error codes, spelled the same."""

    PROVIDER_NOT_READY = "PROVIDER_NOT_READY"
    FLAG_NOT_FOUND = "FLAG_NOT_FOUND"
    PARSE_ERROR = "PARSE_ERROR"
    TYPE_MISMATCH = "TYPE_MISMATCH"
    TARGETING_KEY_MISSING = "TARGETING_KEY_MISSING"
    INVALID_CONTEXT = "INVALID_CONTEXT"
    PROVIDER_FATAL = "PROVIDER_FATAL"
    GENERAL = "GENERAL"


@dataclass(frozen=True, slots=True)
class Evaluation:
    """The outcome of one evaluation. ``variant`` is ``None`` when the caller's default was
    served; ``rule_index`` is the 0-based index of the rule that decided, if one did."""

    value: Any
    variant: str | None
    reason: Reason
    error_code: ErrorCode | None = None
    rule_index: int | None = None
    error_message: str | None = None


Resolver = Callable[[Context, Any], Evaluation]
"""A compiled flag: ``resolve(context, default) -> Evaluation``."""

# Default types each kind accepts without further checks; None (no default) fits every kind.
_ACCEPTS: dict[FlagKind, frozenset[type]] = {
    FlagKind.BOOLEAN: frozenset({bool, NoneType}),
    FlagKind.NUMBER: frozenset({int, float, NoneType}),
    FlagKind.STRING: frozenset({str, NoneType}),
    FlagKind.OBJECT: frozenset({dict, list, NoneType}),
}


def _error(
    default: Any, code: ErrorCode, message: str, rule_index: int | None = None
) -> Evaluation:
    return Evaluation(default, None, Reason.ERROR, code, rule_index, message)


def _bucket_text(
    value: Any, attribute: str, rule_index: int | None, default: Any
) -> str | Evaluation:
    """The text a bucket-by value contributes to the hash, or the error to serve instead."""
    if isinstance(value, str) and value:
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if value is None or value == "":
        return _error(
            default,
            ErrorCode.TARGETING_KEY_MISSING,
            f"a percentage split buckets by {attribute!r}, which the context lacks",
            rule_index,
        )
    return _error(
        default,
        ErrorCode.INVALID_CONTEXT,
        f"{attribute!r} must be a string or an integer to bucket by, got {type(value).__name__}",
        rule_index,
    )


def _split(flag: Flag, serve: Serve, rule_index: int | None) -> Resolver:
    weights = serve.weights()
    results = tuple(
        Evaluation(flag.variants[name], name, Reason.SPLIT, None, rule_index) for name, _ in weights
    )
    bounds = cumulative_bounds(tuple(w for _, w in weights))
    prefix = f"{flag.key if flag.salt is None else flag.salt}/"
    # The hot path reads one attribute; the "key" alias is only tried when "targeting_key" is
    # absent, in the slow branch.
    lookup = flag.bucket_by or _operators.TARGETING_KEY
    read_key = lookup in _operators.KEY_ALIASES
    if read_key:
        lookup = _operators.TARGETING_KEY
    hash32 = mmh3.hash
    two = len(results) <= 2
    first, second = results[0], results[-1]
    bound = bounds[0] if bounds else 1 << 32  # one variant: every hash is below 2**32

    def resolve(context: Context, default: Any) -> Evaluation:
        value = context.get(lookup)
        if value.__class__ is not str or not value:
            if value is None and read_key:
                value = context.get("key")
            text = _bucket_text(value, lookup, rule_index, default)
            if isinstance(text, Evaluation):
                return text
            value = text
        h = hash32(prefix + value, 0, False)
        if two:
            return first if h < bound else second
        return results[bisect_right(bounds, h)]

    return resolve


def _serve(
    flag: Flag, serve: Serve, reason: Reason, rule_index: int | None
) -> tuple[Evaluation | None, Resolver]:
    """``serve`` compiled to ``(result, resolver)``: ``result`` is a lone variant's one result,
    allocated here once, or ``None`` for a split; ``resolver`` produces the result either way."""
    if serve.is_split:
        return None, _split(flag, serve, rule_index)
    assert serve.variant is not None
    result = Evaluation(flag.variants[serve.variant], serve.variant, reason, None, rule_index)
    return result, lambda context, default: result


def _compile_flag(flag: Flag, segments: Mapping[str, _operators.Test]) -> Resolver:
    if not flag.on:
        if flag.off_variant is None:
            return lambda context, default: Evaluation(default, None, Reason.DISABLED)
        off = Evaluation(flag.variants[flag.off_variant], flag.off_variant, Reason.DISABLED)
        return lambda context, default: off

    if not flag.rules:
        return _serve(flag, flag.fallthrough, Reason.STATIC, None)[1]

    rules = tuple(
        (
            _operators.all_of([_operators.compile_clause(c, segments) for c in rule.clauses]),
            *_serve(flag, rule.serve, Reason.TARGETING_MATCH, index),
        )
        for index, rule in enumerate(flag.rules)
    )
    fallthrough_result, fallthrough = _serve(flag, flag.fallthrough, Reason.DEFAULT, None)

    if len(rules) == 1:
        # The common shape (one targeting rule, then the rollout), without the loop.
        ((test, result, serve),) = rules

        def resolve_one(context: Context, default: Any) -> Evaluation:
            if test(context):
                return result if result is not None else serve(context, default)
            if fallthrough_result is not None:
                return fallthrough_result
            return fallthrough(context, default)

        return resolve_one

    # Static results are returned directly rather than through their resolver: a call saved.
    def resolve(context: Context, default: Any) -> Evaluation:
        for test, result, serve in rules:
            if test(context):
                return result if result is not None else serve(context, default)
        if fallthrough_result is not None:
            return fallthrough_result
        return fallthrough(context, default)

    return resolve


_Compiled = tuple[Resolver, frozenset[type], FlagKind]
"""A compiled flag as the hot path reads it: resolver, default types accepted, kind."""


class CompiledConfig:
    """A :class:`FlagConfig` compiled for evaluation; immutable and safe to share across threads.

    Build it with :func:`compile_config` (or :meth:`failing`), once per config version.
    """

    __slots__ = ("_failure", "_flags", "environment", "version")

    def __init__(
        self,
        environment: str,
        version: int,
        flags: dict[str, _Compiled],
        failure: tuple[ErrorCode, str] | None = None,
    ) -> None:
        self.environment = environment
        self.version = version
        self._flags = flags
        self._failure = failure

    @classmethod
    def failing(cls, error_code: ErrorCode, message: str) -> CompiledConfig:
        """A config with no flags whose every evaluation serves the caller's default with reason
        ERROR and ``error_code`` (PARSE_ERROR when a config did not parse, PROVIDER_NOT_READY
        before any arrived)."""
        return cls("", -1, {}, (error_code, message))

    def evaluate(self, flag_key: str, context: Context, default: Any = None) -> Evaluation:
        """Evaluate ``flag_key`` for ``context``; never raises. ``default`` is served (reason
        ERROR) whenever the flag cannot be evaluated; see the module docstring."""
        try:
            entry = self._flags.get(flag_key)
            if entry is None:
                return self._not_found(flag_key, default)
            resolve, accepts, kind = entry
            if default.__class__ not in accepts and kind_of(default) is not kind:
                return _error(
                    default,
                    ErrorCode.TYPE_MISMATCH,
                    f"flag {flag_key!r} is a {kind} flag; the default {default!r} is not",
                )
            return resolve(context, default)
        except Exception as exc:  # a broken context or an unexpected bug: never raise
            if not isinstance(context, Mapping):
                return _error(
                    default,
                    ErrorCode.INVALID_CONTEXT,
                    f"the context must be a mapping, not {type(context).__name__}",
                )
            return _error(default, ErrorCode.GENERAL, f"{type(exc).__name__}: {exc}")

    def _not_found(self, flag_key: object, default: Any) -> Evaluation:
        if self._failure is not None:
            return _error(default, *self._failure)
        return _error(default, ErrorCode.FLAG_NOT_FOUND, f"no flag named {flag_key!r}")

    def evaluate_all(self, context: Context) -> dict[str, Evaluation]:
        """Every flag evaluated for ``context`` with no default (``None``)."""
        return {key: self.evaluate(key, context) for key in self._flags}

    def kind(self, flag_key: str) -> FlagKind | None:
        """The kind of ``flag_key``'s values, or ``None`` when there is no such flag."""
        entry = self._flags.get(flag_key)
        return None if entry is None else entry[2]

    def __contains__(self, flag_key: object) -> bool:
        return flag_key in self._flags

    def __iter__(self) -> Iterator[str]:
        return iter(self._flags)

    def __len__(self) -> int:
        return len(self._flags)


def compile_config(config: FlagConfig) -> CompiledConfig:
    """Compile a validated config into closures. Do it once per config version: it is far
    slower than an evaluation."""
    segments = {s.key: _operators.compile_segment(s) for s in config.segments}
    flags = {f.key: (_compile_flag(f, segments), _ACCEPTS[f.kind], f.kind) for f in config.flags}
    return CompiledConfig(config.environment, config.version, flags)
