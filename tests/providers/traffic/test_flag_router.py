"""The built-in flag router against a real store (SQLite in a temporary file, and PostgreSQL)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from sqlalchemy.engine import make_url

import rollout.plan
from rollout.errors import TrafficError
from rollout.flags import Flag, FlagConfig, compile_config
from rollout.plan.loader import load_plan
from rollout.plan.model import FlagRouter, FlagSpec, Plan
from rollout.providers.traffic import RouterContext, TrafficRouter, default_registry, router_for
from rollout.providers.traffic.flag import FlagTrafficRouter, register_flag_router
from rollout.store import FlagRecord, Store, open_store

ENV = "production"
ACTOR = "rollout:r-42"
SPEC = FlagSpec(key="new-checkout", description="The new checkout flow")
STARTER = Path(rollout.plan.__file__).parent / "starters" / "feature-flag.yaml"


def _conninfo(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


@pytest.fixture(scope="module")
def pg_flag_database(postgres_url: str) -> Iterator[str]:
    """A throwaway schema in the test database; yields a URL whose connections see only it."""
    schema = f"flag_router_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(_conninfo(postgres_url), autocommit=True) as admin:
        admin.execute(f'CREATE SCHEMA "{schema}"')
    try:
        yield (
            make_url(postgres_url)
            .update_query_dict({"options": f"-csearch_path={schema}"})
            .render_as_string(hide_password=False)
        )
    finally:
        with psycopg.connect(_conninfo(postgres_url), autocommit=True) as admin:
            admin.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'rollout.db'}"
    else:
        url = request.getfixturevalue("pg_flag_database")
    with open_store(url) as opened:
        # Each test gets an environment of its own, so PostgreSQL tests share one schema.
        yield opened


@pytest.fixture
def env() -> str:
    return f"{ENV}-{uuid.uuid4().hex[:8]}"


def rollout_of(store: Store, env: str, key: str = "new-checkout") -> dict[str, Any]:
    fallthrough: dict[str, Any] = store.get_flag(env, key).definition["fallthrough"]
    return fallthrough["rollout"]  # type: ignore[no-any-return]


def share_served(store: Store, env: str, key: str, value: object, subjects: int = 4000) -> float:
    """The share of ``subjects`` users the stored config serves ``value``, as an SDK would."""
    snapshot = store.get_config(env)
    config = FlagConfig(
        environment=env,
        version=snapshot.version,
        flags=tuple(Flag.model_validate(record.definition) for record in snapshot.flags),
    )
    compiled = compile_config(config)
    hits = sum(
        compiled.evaluate(key, {"targeting_key": f"user-{n}"}).value == value
        for n in range(subjects)
    )
    return hits / subjects


def test_the_ramp_is_written_as_flag_versions_and_read_back(store: Store, env: str) -> None:
    router = FlagTrafficRouter(store, env, "new-checkout", ACTOR, SPEC)

    applied = [
        router.set_weight(p, key=f"r-42:{env}/stage-{i}/traffic:1")
        for i, p in enumerate((5, 25, 100), start=1)
    ]

    assert [(a.requested_percent, a.canary_percent, a.verified) for a in applied] == [
        (5.0, 5.0, True),
        (25.0, 25.0, True),
        (100.0, 100.0, True),
    ]
    assert applied[1].detail == (
        f"flag new-checkout in {env} serves the new version to 25% (version 2)"
    )
    assert router.get_weight() == 100.0
    history = store.flag_history(env, "new-checkout")
    assert [(h.version, h.change, h.actor) for h in history] == [
        (1, "created", ACTOR),
        (2, "updated", ACTOR),
        (3, "updated", ACTOR),
    ]
    assert [h.definition["fallthrough"]["rollout"]["percent"] for h in history if h.definition] == [
        5.0,
        25.0,
        100.0,
    ]
    assert store.config_version(env) == 3


def test_a_flag_created_from_the_plan_serves_its_values_to_the_percentage(
    store: Store, env: str
) -> None:
    spec = FlagSpec(key="checkout-flow", default="classic", serve="streamlined")
    router = FlagTrafficRouter(store, env, "checkout-flow", ACTOR, spec)

    router.set_weight(25, key="k")

    definition = store.get_flag(env, "checkout-flow").definition
    assert definition["variants"] == {"on": "streamlined", "off": "classic"}
    assert definition["fallthrough"]["rollout"] == {"variant": "on", "percent": 25.0, "rest": "off"}
    assert share_served(store, env, "checkout-flow", "streamlined") == pytest.approx(0.25, abs=0.03)


def test_raising_the_percentage_keeps_everyone_who_was_in(store: Store, env: str) -> None:
    router = FlagTrafficRouter(store, env, "new-checkout", ACTOR, SPEC)

    router.set_weight(10, key="k1")
    before = share_served(store, env, "new-checkout", True)
    router.set_weight(30, key="k2")
    after = share_served(store, env, "new-checkout", True)

    assert before == pytest.approx(0.10, abs=0.02) and after == pytest.approx(0.30, abs=0.03)


def test_re_applying_a_weight_writes_nothing(store: Store, env: str) -> None:
    router = FlagTrafficRouter(store, env, "new-checkout", ACTOR, SPEC)
    router.set_weight(25, key="r-42:stage-2:1")

    again = router.set_weight(25, key="r-42:stage-2:1")

    assert again.canary_percent == 25.0
    assert len(store.flag_history(env, "new-checkout")) == 1
    assert store.config_version(env) == 1


def test_finalize_sends_everyone_to_the_new_or_the_old_version(store: Store, env: str) -> None:
    promoted = FlagTrafficRouter(store, env, "new-checkout", ACTOR, SPEC)
    rolled_back = FlagTrafficRouter(
        store, env, "other-flag", ACTOR, SPEC.model_copy(update={"key": "other-flag"})
    )
    promoted.set_weight(25, key="k")
    rolled_back.set_weight(25, key="k")

    assert promoted.finalize(True).canary_percent == 100.0
    assert rolled_back.finalize(False).canary_percent == 0.0
    assert rollout_of(store, env)["percent"] == 100.0
    assert rollout_of(store, env, "other-flag")["percent"] == 0.0
    assert share_served(store, env, "other-flag", True) == 0.0


def test_an_existing_flag_keeps_its_rules_salt_and_variants(store: Store, env: str) -> None:
    store.put_flag(
        env,
        "new-checkout",
        {
            "key": "new-checkout",
            "variants": {"new": "v2", "old": "v1"},
            "off_variant": "old",
            "rules": [
                {
                    "clauses": [{"attribute": "email", "op": "ends_with", "value": "@staff.io"}],
                    "serve": {"variant": "new"},
                }
            ],
            "fallthrough": {"rollout": {"variant": "new", "percent": 1, "rest": "old"}},
            "salt": "checkout-2025",
        },
        actor="ann",
    )
    router = FlagTrafficRouter(store, env, "new-checkout", ACTOR)  # no plan entry needed

    router.set_weight(50, key="k")

    definition = store.get_flag(env, "new-checkout").definition
    assert definition["fallthrough"]["rollout"] == {
        "variant": "new",
        "percent": 50.0,
        "rest": "old",
    }
    assert definition["salt"] == "checkout-2025"
    assert definition["rules"][0]["serve"]["variant"] == "new"
    assert [h.actor for h in store.flag_history(env, "new-checkout")] == ["ann", ACTOR]


def test_a_missing_flag_without_a_plan_entry_is_a_traffic_error(store: Store, env: str) -> None:
    router = FlagTrafficRouter(store, env, "nowhere", ACTOR)

    with pytest.raises(TrafficError, match=r"does not exist in .* no 'flags' entry"):
        router.set_weight(5, key="k")
    with pytest.raises(TrafficError, match="does not exist"):
        router.get_weight()


def test_a_plan_entry_whose_values_differ_in_type_is_a_traffic_error(
    store: Store, env: str
) -> None:
    spec = FlagSpec(key="mixed", default=False, serve="yes")

    with pytest.raises(TrafficError, match="flag mixed cannot be created from the plan"):
        FlagTrafficRouter(store, env, "mixed", ACTOR, spec).set_weight(5, key="k")


def test_a_switched_off_flag_is_not_ramped_up_but_can_go_to_zero(store: Store, env: str) -> None:
    router = FlagTrafficRouter(store, env, "new-checkout", ACTOR, SPEC)
    router.set_weight(25, key="k1")
    assert router.set_enabled(False).canary_percent == 0.0

    with pytest.raises(TrafficError, match=r"switched off in .* switch it on first"):
        router.set_weight(50, key="k2")
    assert rollout_of(store, env)["percent"] == 25.0  # nothing written
    assert router.set_weight(0, key="k3").canary_percent == 0.0
    assert router.get_weight() == 0.0

    switched_on = router.set_enabled(True)
    assert switched_on.canary_percent == 0.0
    assert router.set_weight(50, key="k4").canary_percent == 50.0


def test_a_percentage_outside_0_to_100_is_refused(store: Store, env: str) -> None:
    router = FlagTrafficRouter(store, env, "new-checkout", ACTOR, SPEC)

    with pytest.raises(TrafficError, match="from 0 to 100"):
        router.set_weight(120, key="k")


class RacingStore:
    """A store where another writer changes the flag just before the router's first write."""

    def __init__(self, store: Store, env: str, after_write: bool = False) -> None:
        self.store, self.env, self.after_write = store, env, after_write
        self.raced = False

    def get_flag(self, environment: str, key: str) -> FlagRecord:
        return self.store.get_flag(environment, key)

    def config_version(self, environment: str) -> int:
        return self.store.config_version(environment)

    def put_flag(
        self,
        environment: str,
        key: str,
        definition: Any,
        actor: str,
        expected_version: int | None = None,
    ) -> FlagRecord:
        if not self.raced and not self.after_write:
            self._race(key)
        written = self.store.put_flag(environment, key, definition, actor, expected_version)
        if not self.raced and self.after_write:
            self._race(key, percent=50)
        return written

    def _race(self, key: str, percent: float | None = None) -> None:
        self.raced = True
        current = dict(self.store.get_flag(self.env, key).definition)
        current["description"] = "edited by bob"
        if percent is not None:
            current["fallthrough"] = {
                "rollout": {"variant": "on", "percent": percent, "rest": "off"}
            }
        self.store.put_flag(self.env, key, current, "bob")


def test_a_concurrent_change_is_re_read_and_kept(store: Store, env: str) -> None:
    FlagTrafficRouter(store, env, "new-checkout", ACTOR, SPEC).set_weight(5, key="k")
    router = FlagTrafficRouter(RacingStore(store, env), env, "new-checkout", ACTOR, SPEC)

    applied = router.set_weight(25, key="k")

    assert applied.canary_percent == 25.0
    definition = store.get_flag(env, "new-checkout").definition
    assert definition["description"] == "edited by bob"
    assert [h.actor for h in store.flag_history(env, "new-checkout")] == [ACTOR, "bob", ACTOR]


def test_a_change_between_write_and_read_back_is_a_mismatch(store: Store, env: str) -> None:
    FlagTrafficRouter(store, env, "new-checkout", ACTOR, SPEC).set_weight(5, key="k")
    racing = RacingStore(store, env, after_write=True)
    router = FlagTrafficRouter(racing, env, "new-checkout", ACTOR, SPEC)

    with pytest.raises(TrafficError, match=r"read-back mismatch: asked for 25% but .* 50% .*bob"):
        router.set_weight(25, key="k")


def test_listeners_hear_of_changes_only(store: Store, env: str) -> None:
    heard: list[tuple[str, int]] = []
    router = FlagTrafficRouter(
        store, env, "new-checkout", ACTOR, SPEC, on_change=lambda e, v: heard.append((e, v))
    )

    router.set_weight(5, key="k")
    router.set_weight(5, key="k")
    router.set_weight(10, key="k")

    assert heard == [(env, 1), (env, 2)]


@pytest.fixture
def plan() -> Plan:
    return load_plan(STARTER)


def test_the_registry_builds_the_flag_router_for_the_strategy_flag(
    store: Store, env: str, plan: Plan
) -> None:
    registry = default_registry()
    register_flag_router(registry, store, ACTOR, plan=plan)

    router = router_for(FlagRouter(type="flag"), RouterContext("1.0.0", env), registry)
    applied = router.set_weight(5, key="k")

    assert isinstance(router, TrafficRouter) and isinstance(router, FlagTrafficRouter)
    assert registry.types() == ("command", "flag", "haproxy", "nginx")
    assert applied.canary_percent == 5.0
    # Created from the plan's entry: its description and values.
    assert store.get_flag(env, "new-checkout").definition["description"] == (
        "Sends checkout through the new flow."
    )


def test_the_traffic_block_can_name_another_flag(store: Store, env: str, plan: Plan) -> None:
    registry = default_registry()
    register_flag_router(registry, store, ACTOR, plan=plan)
    store.put_flag(env, "dark-launch", {"fallthrough": {"variant": "off"}}, actor="ann")

    router = router_for(
        FlagRouter(type="flag", flag="dark-launch"), RouterContext("1", env), registry
    )

    assert router.get_weight() == 0.0
    assert router.set_weight(20, key="k").canary_percent == 20.0


def test_the_flag_router_needs_a_flag_and_registers_once(store: Store, env: str) -> None:
    registry = default_registry()
    register_flag_router(registry, store, ACTOR)

    with pytest.raises(TrafficError, match="the flag router needs a flag"):
        router_for(FlagRouter(type="flag"), RouterContext("1", env), registry)
    with pytest.raises(TrafficError, match="already registered"):
        register_flag_router(registry, store, ACTOR)
