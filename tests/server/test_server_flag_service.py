"""The shared write path on its own: canonical storage, listeners, conditional writes, the
read-modify-write retry under concurrent writers, segment cross-checks."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from rollout.errors import NotFound, StoreError
from rollout.server.flag_service import FlagService
from rollout.server.problems import InvalidDefinition, PreconditionFailed, SegmentInUse
from rollout.store import Store

ENV = "production"


def in_segment(segment: str) -> dict[str, Any]:
    return {"clauses": [{"op": "in_segment", "values": [segment]}], "serve": {"variant": "on"}}


def boolean(percent: float = 0) -> dict[str, Any]:
    return {"fallthrough": {"rollout": {"variant": "on", "percent": percent, "rest": "off"}}}


@pytest.fixture
def service(store: Store) -> FlagService:
    return FlagService(store)


def test_definitions_are_stored_in_canonical_form(service: FlagService) -> None:
    first = service.put_flag(ENV, "f", boolean(5), actor="ann")
    assert first.definition["key"] == "f"
    assert first.definition["off_variant"] == "off"  # defaults written out
    spelled_out = {**first.definition}
    assert service.put_flag(ENV, "f", spelled_out, actor="bob").version == 1
    assert service.get_flag(ENV, "f").updated_by == "ann"


def test_listeners_hear_each_committed_change_with_the_config_version(
    service: FlagService,
) -> None:
    heard: list[tuple[str, int]] = []
    service.add_listener(lambda env, version: heard.append((env, version)))
    service.put_flag(ENV, "f", boolean(), actor="ann")
    service.set_rollout(ENV, "f", 10, actor="ann")
    service.put_segment("staging", "s", {"included": ["u"]}, actor="ann")
    with pytest.raises(InvalidDefinition):
        service.put_flag(ENV, "g", {"fallthrough": {}}, actor="ann")
    assert heard == [(ENV, 1), (ENV, 2), ("staging", 1)]


def test_a_failing_listener_does_not_undo_or_fail_the_change(service: FlagService) -> None:
    def broken(_env: str, _version: int) -> None:
        raise RuntimeError("announcement failed")

    service.add_listener(broken)
    assert service.put_flag(ENV, "f", boolean(), actor="ann").version == 1
    assert service.config_version(ENV) == 1


def test_invalid_definitions_report_every_problem(service: FlagService) -> None:
    with pytest.raises(InvalidDefinition) as info:
        service.put_flag(
            ENV,
            "f",
            {"fallthrough": {"rollout": {"variant": "on", "percent": 300, "rest": "off"}}, "x": 1},
            actor="ann",
        )
    fields = {problem.field for problem in info.value.problems}
    assert fields == {"fallthrough.rollout.percent", "x"}


def test_a_flag_cannot_name_a_segment_the_environment_lacks(service: FlagService) -> None:
    flag = {
        **boolean(),
        "rules": [
            {"clauses": [{"op": "in_segment", "values": ["beta"]}], "serve": {"variant": "on"}}
        ],
    }
    service.put_segment("staging", "beta", {}, actor="ann")  # another environment's
    with pytest.raises(InvalidDefinition) as info:
        service.put_flag(ENV, "f", flag, actor="ann")
    assert info.value.field == "rules[0].clauses[0].values[0]"
    service.put_segment(ENV, "beta", {}, actor="ann")
    service.put_flag(ENV, "f", flag, actor="ann")
    with pytest.raises(SegmentInUse):
        service.delete_segment(ENV, "beta", actor="ann")


def test_conditional_writes_fail_with_precondition_failed(service: FlagService) -> None:
    service.put_flag(ENV, "f", boolean(), actor="ann", expected_version=0)
    with pytest.raises(PreconditionFailed):
        service.put_flag(ENV, "f", boolean(5), actor="ann", expected_version=0)
    with pytest.raises(PreconditionFailed):
        service.set_enabled(ENV, "f", False, actor="ann", expected_version=7)
    with pytest.raises(PreconditionFailed):
        service.delete_flag(ENV, "f", actor="ann", expected_version=2)
    assert service.get_flag(ENV, "f").version == 1


def test_concurrent_ramps_all_land_without_losing_one(service: FlagService) -> None:
    """Set-to-value verbs retry their read-modify-write when another writer got in between."""
    service.put_flag(ENV, "f", boolean(), actor="ann")
    errors: list[BaseException] = []
    barrier = threading.Barrier(3)

    def ramp(actor: str) -> None:
        barrier.wait()
        try:
            for _ in range(3):
                service.set_enabled(ENV, "f", False, actor=actor)
                service.set_enabled(ENV, "f", True, actor=actor)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=ramp, args=(f"t{i}",)) for i in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []
    history = service.flag_history(ENV, "f")
    # Every change is a real flip (equal puts are no-ops), so versions alternate off/on.
    assert [c.definition["on"] for c in history if c.definition] == [
        i % 2 == 0 for i in range(len(history))
    ]


def test_a_config_that_references_a_missing_segment_is_refused(
    service: FlagService, store: Store
) -> None:
    # Only a race or a hand-edited database gets here; simulate it below the service.
    flag = {
        "key": "f",
        **boolean(),
        "rules": [
            {"clauses": [{"op": "in_segment", "values": ["gone"]}], "serve": {"variant": "on"}}
        ],
    }
    store.put_flag(ENV, "f", flag, actor="db-admin")
    with pytest.raises(StoreError, match="inconsistent"):
        service.config_document(ENV)


def test_config_documents_are_reused_while_the_version_stands(service: FlagService) -> None:
    service.put_flag(ENV, "f", boolean(), actor="ann")
    first = service.config_document(ENV)
    assert service.config_document(ENV) is first
    service.set_rollout(ENV, "f", 50, actor="ann")
    second = service.config_document(ENV)
    assert second.version == 2 and second.json != first.json


def test_reads_of_missing_things(service: FlagService) -> None:
    with pytest.raises(NotFound):
        service.flag_history(ENV, "never")
    with pytest.raises(NotFound):
        service.set_rollout(ENV, "never", 5, actor="ann")
    with pytest.raises(InvalidDefinition) as info:
        service.list_flags("bad env")
    assert info.value.field == "environment"
    with pytest.raises(InvalidDefinition) as actor_info:
        service.put_flag(ENV, "f", boolean(), actor="  ")
    assert actor_info.value.field == "actor"
