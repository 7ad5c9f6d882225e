"""The flag model and the config document that carries it.

A *config* is everything one environment's SDKs need to evaluate flags locally. The server's
``GET /config`` serves exactly this JSON, and the SDK loads it with
``FlagConfig.model_validate_json``; ``FlagConfig.to_json`` writes it (the ``//`` comments are
explanation, not part of the format)::

    {
      "environment": "production",
      "version": 42,                              // bumps on every change; SDKs compare it
      "segments": [
        {"key": "beta-testers",
         "included": ["user-1"], "excluded": ["user-9"],    // by targeting key; included wins
         "rules": [{"clauses": [{"attribute": "email", "op": "ends_with",
                                 "value": "@example.com"}]}]}
      ],
      "flags": [
        {"key": "new-checkout",
         "on": true,                                         // the kill switch
         "variants": {"on": true, "off": false},             // name -> value, one type per flag
         "off_variant": "off",                               // served while "on" is false
         "rules": [                                          // first match wins
           {"clauses": [{"attribute": "country", "op": "equals", "value": "NL"}],
            "serve": {"variant": "on"}},
           {"clauses": [{"op": "in_segment", "values": ["beta-testers"]}],
            "serve": {"split": [{"variant": "on", "weight": 50000},
                                {"variant": "off", "weight": 50000}]}}
         ],
         "fallthrough": {"rollout": {"variant": "on", "percent": 25, "rest": "off"}},
         "bucket_by": null,                                  // null: the targeting key
         "salt": null}                                       // null: the flag key
      ]
    }

Defaults: ``on`` is true; ``variants`` is ``{"on": true, "off": false}`` (a boolean flag);
``off_variant``, when left out, is ``"off"`` if the flag has a variant of that name (an explicit
``null`` means "the caller's default"); ``rules`` is empty; ``bucket_by`` and ``salt`` are null.
``fallthrough`` is required.

A *serve* is exactly one of ``{"variant": name}``, ``{"split": [{"variant", "weight"}, ...]}``
with weights in thousandths of a percent summing to 100_000, or the convenient
``{"rollout": {"variant", "percent", "rest"}}``: ``percent`` % (0..100) get ``variant`` -- the
subjects whose bucket is below ``percent * 1000`` -- and everyone else ``rest``. Split ranges
are laid out in the order written; a rollout's ``variant`` comes first, so raising ``percent``
only ever adds subjects to it.

Variant values are strings, numbers, booleans or JSON objects/arrays (never null), and all
variants of a flag share one kind (:class:`FlagKind`). Evaluated values are shared, not copied:
do not mutate a JSON variant you were handed.

How mistakes are reported:

* :class:`pydantic.ValidationError`, located at the field (``loc``), for anything wrong within one
  field: shapes and types, unknown fields, a clause whose operator and value disagree, a bad
  regular expression, a bad semver literal, split weights not summing to 100_000, a percent out
  of range, mixed variant kinds, a ``null`` variant value.
* :class:`rollout.errors.FlagError` with a dotted ``field`` (``flags[0].rules[1].serve.variant``)
  for references that do not resolve: a serve or ``off_variant`` naming a variant the flag lacks,
  a clause naming a segment the config lacks, duplicate flag or segment keys. Validating a lone
  :class:`Flag` checks its variant references (field relative to the flag); segment references
  need the config (or :meth:`Flag.referenced_segments` and the caller's list).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from enum import StrEnum
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    Field,
    JsonValue,
    ValidationError,
    ValidationInfo,
    ValidatorFunctionWrapHandler,
    field_validator,
    model_validator,
)

from rollout.errors import FlagError
from rollout.flags.bucketing import BUCKETS, percent_to_buckets
from rollout.flags.clauses import FROZEN, SEGMENT_OPS, Clause, Key


class FlagKind(StrEnum):
    """The one type all variants of a flag share."""

    BOOLEAN = "boolean"
    STRING = "string"
    NUMBER = "number"
    OBJECT = "object"  # a JSON object or array


def kind_of(value: object) -> FlagKind | None:
    """The :class:`FlagKind` of a variant value, ``None`` for anything else (``None`` too)."""
    if isinstance(value, bool):
        return FlagKind.BOOLEAN
    if isinstance(value, int | float):
        return FlagKind.NUMBER
    if isinstance(value, str):
        return FlagKind.STRING
    if isinstance(value, dict | list):
        return FlagKind.OBJECT
    return None


def _not_null(value: JsonValue) -> JsonValue:
    if value is None:
        raise ValueError("a variant value cannot be null")
    return value


VariantValue = Annotated[JsonValue, AfterValidator(_not_null)]


class Weighted(BaseModel):
    """One slice of a split: ``weight`` thousandths of a percent (25_000 = 25 %)."""

    model_config = FROZEN

    variant: Key
    weight: int = Field(ge=0, le=BUCKETS)


class Rollout(BaseModel):
    """``percent`` % get ``variant``, the rest get ``rest``; ``variant``'s range comes first."""

    model_config = FROZEN

    variant: Key
    percent: float = Field(ge=0, le=100)
    rest: Key

    @field_validator("rest")
    @classmethod
    def _differs(cls, rest: str, info: ValidationInfo) -> str:
        if info.data.get("variant") == rest:
            raise ValueError("'rest' must name a different variant than 'variant'")
        return rest


class Serve(BaseModel):
    """What a rule or the fallthrough serves: exactly one of a variant, a split, a rollout."""

    model_config = FROZEN

    variant: Key | None = None
    split: tuple[Weighted, ...] | None = None
    rollout: Rollout | None = None

    @field_validator("split")
    @classmethod
    def _check_split(cls, split: tuple[Weighted, ...] | None) -> tuple[Weighted, ...] | None:
        if split is None:
            return None
        if not split:
            raise ValueError("a split needs at least one variant")
        names = [w.variant for w in split]
        duplicated = sorted({n for n in names if names.count(n) > 1})
        if duplicated:
            raise ValueError(f"variant {duplicated[0]!r} appears more than once in the split")
        total = sum(w.weight for w in split)
        if total != BUCKETS:
            raise ValueError(
                f"weights are thousandths of a percent and must sum to 100000 (100 %), not {total}"
            )
        return split

    @model_validator(mode="after")
    def _exactly_one(self) -> Serve:
        given = [n for n in ("variant", "split", "rollout") if getattr(self, n) is not None]
        if len(given) != 1:
            raise ValueError(
                "serve exactly one of 'variant', 'split' or 'rollout'"
                + (f" (got {', '.join(given)})" if given else "")
            )
        return self

    @property
    def is_split(self) -> bool:
        """True when the served variant depends on the subject's bucket."""
        return self.variant is None

    def weights(self) -> tuple[tuple[str, int], ...]:
        """``(variant, thousandths of a percent)`` in range order; a lone variant gets 100_000.

        >>> Serve(rollout=Rollout(variant="on", percent=25, rest="off")).weights()
        (('on', 25000), ('off', 75000))
        """
        if self.variant is not None:
            return ((self.variant, BUCKETS),)
        if self.split is not None:
            return tuple((w.variant, w.weight) for w in self.split)
        assert self.rollout is not None
        treated = percent_to_buckets(self.rollout.percent)
        return ((self.rollout.variant, treated), (self.rollout.rest, BUCKETS - treated))

    def variant_fields(self) -> Iterator[tuple[str, str]]:
        """``(field path within this serve, variant name)`` for every variant it names."""
        if self.variant is not None:
            yield "variant", self.variant
        if self.split is not None:
            for i, w in enumerate(self.split):
                yield f"split[{i}].variant", w.variant
        if self.rollout is not None:
            yield "rollout.variant", self.rollout.variant
            yield "rollout.rest", self.rollout.rest


class Rule(BaseModel):
    """A targeting rule: when every clause matches, serve ``serve``."""

    model_config = FROZEN

    clauses: tuple[Clause, ...]
    serve: Serve
    description: str = ""

    @field_validator("clauses")
    @classmethod
    def _some_clause(cls, clauses: tuple[Clause, ...]) -> tuple[Clause, ...]:
        # Field(min_length=1) on a tuple adds a spurious "too short" error when an item fails.
        if not clauses:
            raise ValueError("a rule needs at least one clause")
        return clauses


class SegmentRule(BaseModel):
    """A segment rule: the subject is in the segment when every clause matches."""

    model_config = FROZEN

    clauses: tuple[Clause, ...]

    @field_validator("clauses")
    @classmethod
    def _no_nested_segments(cls, clauses: tuple[Clause, ...]) -> tuple[Clause, ...]:
        if not clauses:
            raise ValueError("a segment rule needs at least one clause")
        for i, clause in enumerate(clauses):
            if clause.op in SEGMENT_OPS:
                raise ValueError(f"clause {i}: a segment rule cannot refer to segments")
        return clauses


class Segment(BaseModel):
    """A named set of subjects: a targeting key in ``included`` is in, else one in ``excluded`` is
    out, else the subject is in when any rule matches."""

    model_config = FROZEN

    key: Key
    description: str = ""
    included: tuple[str, ...] = ()
    excluded: tuple[str, ...] = ()
    rules: tuple[SegmentRule, ...] = ()


_BOOLEAN_VARIANTS: dict[str, JsonValue] = {"on": True, "off": False}


class Flag(BaseModel):
    """One feature flag; see the module docstring for the JSON and the defaults."""

    model_config = FROZEN

    key: Key
    description: str = ""
    on: bool = True
    variants: dict[Key, VariantValue] = Field(
        default_factory=lambda: dict(_BOOLEAN_VARIANTS), min_length=1
    )
    off_variant: Key | None = None
    rules: tuple[Rule, ...] = ()
    fallthrough: Serve
    bucket_by: str | None = Field(default=None, min_length=1)
    salt: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _default_off_variant(cls, data: Any) -> Any:
        # Left out (not null): a flag with an "off" variant serves it when switched off, so a
        # boolean kill switch serves false rather than whatever default the caller passed.
        if isinstance(data, dict) and "off_variant" not in data:
            variants = data.get("variants", _BOOLEAN_VARIANTS)
            if isinstance(variants, dict) and "off" in variants:
                return {**data, "off_variant": "off"}
        return data

    @field_validator("variants")
    @classmethod
    def _one_kind(cls, variants: dict[str, JsonValue]) -> dict[str, JsonValue]:
        items = iter(variants.items())
        first_name, first_value = next(items)
        first_kind = kind_of(first_value)
        for name, value in items:
            if kind_of(value) is not first_kind:
                raise ValueError(
                    f"all variants of a flag share one type: {first_name!r} is a {first_kind} "
                    f"but {name!r} is a {kind_of(value)}"
                )
        return variants

    @model_validator(mode="after")
    def _variants_resolve(self) -> Flag:
        for field, name in self.variant_fields():
            if name not in self.variants:
                known = ", ".join(repr(v) for v in self.variants)
                raise FlagError(f"no variant named {name!r} (the flag has {known})", field)
        return self

    @property
    def kind(self) -> FlagKind:
        """The type of this flag's values."""
        kind = kind_of(next(iter(self.variants.values())))
        assert kind is not None  # guaranteed by validation
        return kind

    def variant_fields(self) -> Iterator[tuple[str, str]]:
        """``(field path within the flag, variant name)`` for every variant it refers to."""
        if self.off_variant is not None:
            yield "off_variant", self.off_variant
        for i, rule in enumerate(self.rules):
            for field, name in rule.serve.variant_fields():
                yield f"rules[{i}].serve.{field}", name
        for field, name in self.fallthrough.variant_fields():
            yield f"fallthrough.{field}", name

    def segment_fields(self) -> Iterator[tuple[str, str]]:
        """``(field path within the flag, segment key)`` for every segment it refers to."""
        for i, rule in enumerate(self.rules):
            for j, clause in enumerate(rule.clauses):
                if clause.op in SEGMENT_OPS and clause.values is not None:
                    for k, key in enumerate(clause.values):
                        yield f"rules[{i}].clauses[{j}].values[{k}]", str(key)

    def referenced_segments(self) -> frozenset[str]:
        """Keys of the segments this flag's rules refer to."""
        return frozenset(key for _, key in self.segment_fields())


def _join(prefix: str, field: str) -> str:
    return f"{prefix}.{field}" if field else prefix


class FlagConfig(BaseModel):
    """Everything one environment's SDKs need; see the module docstring for the JSON."""

    model_config = FROZEN

    environment: str = Field(min_length=1)
    version: int = Field(ge=0)
    flags: tuple[Flag, ...] = ()
    segments: tuple[Segment, ...] = ()

    @field_validator("flags", mode="wrap")
    @classmethod
    def _locate_flag_errors(cls, value: Any, handler: ValidatorFunctionWrapHandler) -> Any:
        # A flag's own check only knows paths within the flag; find which flag it was so the
        # error names the full path (``flags[3].rules[0].serve.variant``).
        try:
            return handler(value)
        except FlagError:
            if isinstance(value, list | tuple):
                for index, item in enumerate(value):
                    try:
                        Flag.model_validate(item)
                    except FlagError as inner:
                        raise FlagError(
                            inner.message, _join(f"flags[{index}]", inner.field)
                        ) from None
                    except ValidationError:
                        continue
            raise

    @model_validator(mode="after")
    def _references_resolve(self) -> FlagConfig:
        _unique((s.key for s in self.segments), "segments")
        _unique((f.key for f in self.flags), "flags")
        segment_keys = {s.key for s in self.segments}
        for index, flag in enumerate(self.flags):
            for field, key in flag.segment_fields():
                if key not in segment_keys:
                    raise FlagError(f"no segment named {key!r}", f"flags[{index}].{field}")
        return self

    def flag(self, key: str) -> Flag | None:
        """The flag called ``key``, or ``None``."""
        return next((f for f in self.flags if f.key == key), None)

    def to_json(self) -> str:
        """This config as the JSON ``model_validate_json`` reads back to an equal config."""
        return self.model_dump_json()


def _unique(keys: Iterable[str], name: str) -> None:
    seen: set[str] = set()
    for index, key in enumerate(keys):
        if key in seen:
            raise FlagError(f"duplicate key {key!r}", f"{name}[{index}].key")
        seen.add(key)
