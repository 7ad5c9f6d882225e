"""An OpenFeature provider backed by a :class:`~rollout.sdk.client.RolloutClient`::

    from openfeature import api
    from openfeature.evaluation_context import EvaluationContext

    api.set_provider(RolloutProvider(RolloutClient("http://flags:8000", "production")))
    flags = api.get_client()
    flags.get_boolean_value("new-checkout", False, EvaluationContext("user-42", {"country": "NL"}))

Mapping:

* The evaluation context becomes the client's context: its attributes, plus ``targeting_key``
  when set. ``datetime`` attributes become seconds since the epoch (a float), so numeric
  clauses (``lt``/``gt``) can compare times.
* Reasons and error codes carry over one to one (Rollout uses OpenFeature's names).
* ``resolve_integer_details`` serves a number flag's value as an ``int`` when it is integral
  (``3.0`` -> ``3``) and TYPE_MISMATCH otherwise; ``resolve_float_details`` serves ints as
  floats. Both need the flag to be a number flag.
* ``flag_metadata``: ``config_version`` and ``source`` (server / cache / offline), and
  ``rule_index`` when a targeting rule decided.
* Tracking: ``client.track("checkout", context, TrackingEventDetails(value=42.5))`` is
  :meth:`RolloutClient.track` (the event counted in the arms serving the subject, the value
  added to its sum); the details' other attributes are not kept.
* Lifecycle: ``initialize`` waits up to ``ready_timeout`` seconds for a config, else raises
  ProviderNotReadyError (the offline file does not parse: ParseError; cannot be read:
  ProviderFatalError); a config arriving later emits PROVIDER_READY. Every update emits
  PROVIDER_CONFIGURATION_CHANGED naming the flags that changed. ``shutdown`` closes the
  client only when ``close_client`` is true (the client may be shared).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any, TypeVar

from openfeature.evaluation_context import EvaluationContext
from openfeature.event import ProviderEventDetails
from openfeature.exception import (
    ErrorCode as OFErrorCode,
)
from openfeature.exception import (
    ParseError,
    ProviderFatalError,
    ProviderNotReadyError,
)
from openfeature.flag_evaluation import FlagResolutionDetails, FlagValueType
from openfeature.flag_evaluation import Reason as OFReason
from openfeature.provider import AbstractProvider, Metadata
from openfeature.track import TrackingEventDetails

from rollout.flags import ErrorCode, Evaluation, Reason
from rollout.sdk.client import RolloutClient
from rollout.sdk.snapshot import ConfigChange

__all__ = ["PROVIDER_NAME", "RolloutProvider"]

PROVIDER_NAME = "rollout"
_V = TypeVar("_V")
ObjectValue = Sequence[FlagValueType] | Mapping[str, FlagValueType]


def to_context(evaluation_context: EvaluationContext | None) -> dict[str, Any]:
    """The client context for an OpenFeature evaluation context (see the module docstring).

    >>> to_context(EvaluationContext("user-1", {"country": "NL"}))
    {'country': 'NL', 'targeting_key': 'user-1'}
    """
    if evaluation_context is None:
        return {}
    context = {
        name: value.timestamp() if isinstance(value, datetime) else value
        for name, value in evaluation_context.attributes.items()
    }
    if evaluation_context.targeting_key:
        context["targeting_key"] = evaluation_context.targeting_key
    return context


class RolloutProvider(AbstractProvider):
    """OpenFeature's provider interface over a Rollout client; see the module docstring."""

    def __init__(
        self, client: RolloutClient, *, ready_timeout: float = 10.0, close_client: bool = False
    ) -> None:
        super().__init__()
        self.client = client
        self._ready_timeout = ready_timeout
        self._close_client = close_client
        self._remove_listener: Callable[[], None] | None = None
        self._waiting_for_config = False

    def get_metadata(self) -> Metadata:
        return Metadata(name=PROVIDER_NAME)

    def initialize(self, evaluation_context: EvaluationContext) -> None:
        if self._remove_listener is None:
            self._remove_listener = self.client.add_listener(self._on_change)
        if self.client.wait_until_ready(self._ready_timeout):
            return
        self._waiting_for_config = True
        code = self.client.error_code
        message = self.client.last_error or "no flag config has been received yet"
        if code is ErrorCode.PARSE_ERROR:
            raise ParseError(message)
        if code is ErrorCode.PROVIDER_FATAL:
            raise ProviderFatalError(message)
        raise ProviderNotReadyError(message)

    def shutdown(self) -> None:
        if self._remove_listener is not None:
            self._remove_listener()
            self._remove_listener = None
        if self._close_client:
            self.client.close()

    def _on_change(self, change: ConfigChange) -> None:
        if self._waiting_for_config:
            self._waiting_for_config = False
            self.emit_provider_ready(ProviderEventDetails(message="flag config received"))
        self.emit_provider_configuration_changed(
            ProviderEventDetails(
                flags_changed=sorted(change.flags_changed),
                metadata={"config_version": change.version, "source": change.source.value},
            )
        )

    # ------------------------------------------------------------------ tracking

    def track(
        self,
        tracking_event_name: str,
        evaluation_context: EvaluationContext | None = None,
        tracking_event_details: TrackingEventDetails | None = None,
    ) -> None:
        """OpenFeature's tracking API: :meth:`RolloutClient.track` with the details' ``value``
        (their other attributes are not kept)."""
        value = tracking_event_details.value if tracking_event_details is not None else None
        self.client.track(tracking_event_name, to_context(evaluation_context), value=value)

    # ------------------------------------------------------------------ resolution

    def resolve_boolean_details(
        self,
        flag_key: str,
        default_value: bool,
        evaluation_context: EvaluationContext | None = None,
    ) -> FlagResolutionDetails[bool]:
        return self._resolve(flag_key, default_value, evaluation_context)

    def resolve_string_details(
        self,
        flag_key: str,
        default_value: str,
        evaluation_context: EvaluationContext | None = None,
    ) -> FlagResolutionDetails[str]:
        return self._resolve(flag_key, default_value, evaluation_context)

    def resolve_integer_details(
        self,
        flag_key: str,
        default_value: int,
        evaluation_context: EvaluationContext | None = None,
    ) -> FlagResolutionDetails[int]:
        details = self._resolve(flag_key, default_value, evaluation_context)
        value: Any = details.value
        if details.error_code is None and isinstance(value, float):
            if not value.is_integer():
                return _mismatch(
                    default_value, f"flag {flag_key!r} served {value!r}, not an integer"
                )
            details.value = int(value)
        return details

    def resolve_float_details(
        self,
        flag_key: str,
        default_value: float,
        evaluation_context: EvaluationContext | None = None,
    ) -> FlagResolutionDetails[float]:
        details = self._resolve(flag_key, default_value, evaluation_context)
        value: Any = details.value
        if isinstance(value, int) and not isinstance(value, bool):
            details.value = float(value)
        return details

    def resolve_object_details(
        self,
        flag_key: str,
        default_value: ObjectValue,
        evaluation_context: EvaluationContext | None = None,
    ) -> FlagResolutionDetails[ObjectValue]:
        return self._resolve(flag_key, default_value, evaluation_context)

    def _resolve(
        self, flag_key: str, default: _V, evaluation_context: EvaluationContext | None
    ) -> FlagResolutionDetails[_V]:
        result = self.client.evaluate(flag_key, to_context(evaluation_context), default)
        return _details(result, self.client)


def _details(result: Evaluation, client: RolloutClient) -> FlagResolutionDetails[Any]:
    metadata: dict[str, bool | int | float | str] = {"source": client.source.value}
    version = client.version
    if version is not None:
        metadata["config_version"] = version
    if result.rule_index is not None:
        metadata["rule_index"] = result.rule_index
    return FlagResolutionDetails(
        value=result.value,
        error_code=None if result.error_code is None else OFErrorCode(result.error_code.value),
        error_message=result.error_message,
        reason=OFReason(result.reason.value),
        variant=result.variant,
        flag_metadata=metadata,
    )


def _mismatch(default: _V, message: str) -> FlagResolutionDetails[_V]:
    return FlagResolutionDetails(
        value=default,
        error_code=OFErrorCode.TYPE_MISMATCH,
        error_message=message,
        reason=OFReason(Reason.ERROR.value),
    )
