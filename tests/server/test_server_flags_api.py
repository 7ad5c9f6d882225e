"""The flag and segment routes through httpx against the ASGI app: CRUD, ETag / If-Match,
422 naming the field, 404, 409, history with diffs, and the audit trail with the actor."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from rollout.flags import Flag, FlagConfig, compile_config
from rollout.store import GLOBAL_CHAIN, Store

pytestmark = pytest.mark.anyio

FLAGS = "/api/v1/environments/production/flags"
SEGMENTS = "/api/v1/environments/production/segments"
ANN = {"X-Rollout-Actor": "ann"}
BOB = {"X-Rollout-Actor": "bob"}


def boolean_flag(percent: float = 5) -> dict[str, Any]:
    return {"fallthrough": {"rollout": {"variant": "on", "percent": percent, "rest": "off"}}}


def locs(response: httpx.Response) -> list[list[str | int]]:
    assert response.status_code == 422, response.text
    return [item["loc"] for item in response.json()["detail"]]


async def test_put_creates_a_flag_and_get_returns_it_with_its_version(
    api: httpx.AsyncClient,
) -> None:
    created = await api.put(f"{FLAGS}/new-checkout", json=boolean_flag(), headers=ANN)
    assert created.status_code == 200
    assert created.headers["etag"] == '"1"'
    body = created.json()
    assert (body["key"], body["version"], body["updated_by"]) == ("new-checkout", 1, "ann")
    assert body["definition"]["fallthrough"]["rollout"]["percent"] == 5

    fetched = await api.get(f"{FLAGS}/new-checkout")
    assert fetched.status_code == 200
    assert fetched.headers["etag"] == '"1"'
    assert Flag.model_validate(fetched.json()["definition"]) == Flag.model_validate(
        {"key": "new-checkout", **boolean_flag()}
    )

    listed = (await api.get(FLAGS)).json()
    assert listed["config_version"] == 1
    assert [f["key"] for f in listed["flags"]] == ["new-checkout"]


async def test_putting_the_same_flag_again_keeps_its_version(api: httpx.AsyncClient) -> None:
    await api.put(f"{FLAGS}/f", json=boolean_flag(), headers=ANN)
    # Spelled differently (key given, defaults written out), same flag.
    again = await api.put(
        f"{FLAGS}/f",
        json={"key": "f", "on": True, "variants": {"on": True, "off": False}, **boolean_flag()},
    )
    assert again.json()["version"] == 1
    assert (await api.get("/api/v1/environments/production/config")).headers["etag"] == '"1"'


async def test_a_change_without_actor_is_recorded_as_anonymous(api: httpx.AsyncClient) -> None:
    response = await api.put(f"{FLAGS}/f", json=boolean_flag())
    assert response.json()["updated_by"] == "anonymous"


@pytest.mark.parametrize(
    ("definition", "loc"),
    [
        (
            {"fallthrough": {"rollout": {"variant": "on", "percent": 120, "rest": "off"}}},
            ["body", "fallthrough", "rollout", "percent"],
        ),
        ({"fallthrough": {"variant": "blue"}}, ["body", "fallthrough", "variant"]),
        ({"fallthrough": {"variant": "on"}, "colour": "red"}, ["body", "colour"]),
        ({"key": "other", "fallthrough": {"variant": "on"}}, ["body", "key"]),
        (
            {
                "fallthrough": {"variant": "on"},
                "rules": [
                    {
                        "clauses": [{"op": "in_segment", "values": ["beta"]}],
                        "serve": {"variant": "on"},
                    }
                ],
            },
            ["body", "rules", 0, "clauses", 0, "values", 0],
        ),
        ({}, ["body", "fallthrough"]),
    ],
    ids=["percent", "unknown-variant", "unknown-field", "key-mismatch", "unknown-segment", "empty"],
)
async def test_a_bad_definition_is_a_422_naming_the_field(
    api: httpx.AsyncClient, store: Store, definition: dict[str, Any], loc: list[str | int]
) -> None:
    response = await api.put(f"{FLAGS}/f", json=definition)
    assert loc in locs(response)
    assert all(item["msg"] for item in response.json()["detail"])
    assert store.config_version("production") == 0  # nothing was written


async def test_a_malformed_environment_or_key_is_a_422(api: httpx.AsyncClient) -> None:
    assert ["path", "environment"] in locs(await api.get("/api/v1/environments/-bad/flags"))
    assert ["body", "key"] in locs(await api.put(f"{FLAGS}/bad%20key", json=boolean_flag()))


async def test_if_match_guards_against_lost_updates(api: httpx.AsyncClient) -> None:
    await api.put(f"{FLAGS}/f", json=boolean_flag(5), headers=ANN)
    ok = await api.put(f"{FLAGS}/f", json=boolean_flag(10), headers={"If-Match": '"1"'})
    assert (ok.status_code, ok.headers["etag"]) == (200, '"2"')

    stale = await api.put(f"{FLAGS}/f", json=boolean_flag(50), headers={"If-Match": '"1"'})
    assert stale.status_code == 412
    assert "version 2" in stale.json()["detail"]
    stale_ramp = await api.post(
        f"{FLAGS}/f/rollout", json={"percent": 50}, headers={"If-Match": '"1"'}
    )
    assert stale_ramp.status_code == 412
    flag = (await api.get(f"{FLAGS}/f")).json()
    assert (flag["version"], flag["definition"]["fallthrough"]["rollout"]["percent"]) == (2, 10)


async def test_if_match_zero_creates_only_and_star_requires_existence(
    api: httpx.AsyncClient,
) -> None:
    assert (
        await api.put(f"{FLAGS}/f", json=boolean_flag(), headers={"If-Match": "*"})
    ).status_code == 412
    created = await api.put(f"{FLAGS}/f", json=boolean_flag(), headers={"If-Match": '"0"'})
    assert created.status_code == 200
    again = await api.put(f"{FLAGS}/f", json=boolean_flag(9), headers={"If-Match": '"0"'})
    assert again.status_code == 412
    assert (
        await api.put(f"{FLAGS}/f", json=boolean_flag(9), headers={"If-Match": "*"})
    ).status_code == 200


async def test_a_malformed_if_match_is_a_422_on_the_header(api: httpx.AsyncClient) -> None:
    response = await api.put(f"{FLAGS}/f", json=boolean_flag(), headers={"If-Match": "one"})
    assert locs(response) == [["header", "If-Match"]]


async def test_missing_flags_are_404(api: httpx.AsyncClient) -> None:
    for response in (
        await api.get(f"{FLAGS}/nope"),
        await api.post(f"{FLAGS}/nope/rollout", json={"percent": 5}),
        await api.post(f"{FLAGS}/nope/kill"),
        await api.delete(f"{FLAGS}/nope"),
        await api.get(f"{FLAGS}/nope/history"),
        await api.get(f"{SEGMENTS}/nope"),
    ):
        assert response.status_code == 404, response.request.url
        assert "nope" in response.json()["detail"]


async def test_rollout_sets_the_percentage_and_keeps_the_rest(api: httpx.AsyncClient) -> None:
    rule = {
        "clauses": [{"attribute": "country", "op": "equals", "value": "NL"}],
        "serve": {"variant": "on"},
    }
    await api.put(f"{FLAGS}/f", json={**boolean_flag(5), "rules": [rule], "salt": "s"})
    response = await api.post(f"{FLAGS}/f/rollout", json={"percent": 25}, headers=BOB)
    assert response.status_code == 200
    flag = Flag.model_validate(response.json()["definition"])
    assert flag.fallthrough.weights() == (("on", 25_000), ("off", 75_000))
    assert (len(flag.rules), flag.salt) == (1, "s")
    assert response.json()["updated_by"] == "bob"


async def test_rollout_rejects_a_bad_percentage_or_variant(api: httpx.AsyncClient) -> None:
    colours = {"variants": {"red": "r", "blue": "b"}, "fallthrough": {"variant": "red"}}
    await api.put(f"{FLAGS}/colours", json=colours)
    assert locs(await api.post(f"{FLAGS}/colours/rollout", json={"percent": 150})) == [
        ["body", "percent"]
    ]
    # A non-boolean flag without a rollout must be told which variant is the treatment.
    assert locs(await api.post(f"{FLAGS}/colours/rollout", json={"percent": 10})) == [
        ["body", "fallthrough", "rollout"]
    ]
    assert locs(
        await api.post(
            f"{FLAGS}/colours/rollout", json={"percent": 10, "treatment": "green", "rest": "red"}
        )
    ) == [["body", "treatment"]]
    ramped = await api.post(
        f"{FLAGS}/colours/rollout", json={"percent": 10, "treatment": "blue", "rest": "red"}
    )
    assert ramped.json()["definition"]["fallthrough"]["rollout"] == {
        "variant": "blue",
        "percent": 10.0,
        "rest": "red",
    }


async def test_kill_and_revive_flip_the_switch_only(api: httpx.AsyncClient) -> None:
    await api.put(f"{FLAGS}/f", json=boolean_flag(30))
    killed = (await api.post(f"{FLAGS}/f/kill", headers=ANN)).json()
    assert killed["definition"]["on"] is False
    config = FlagConfig.model_validate_json(
        (await api.get("/api/v1/environments/production/config")).text
    )
    assert compile_config(config).evaluate("f", {"targeting_key": "u1"}, True).value is False
    revived = (await api.post(f"{FLAGS}/f/revive", headers=ANN)).json()
    assert revived["definition"]["on"] is True
    assert revived["definition"]["fallthrough"]["rollout"]["percent"] == 30
    assert revived["version"] == 3


async def test_history_lists_every_version_with_who_when_and_the_diff(
    api: httpx.AsyncClient,
) -> None:
    await api.put(f"{FLAGS}/f", json=boolean_flag(5), headers=ANN)
    await api.post(f"{FLAGS}/f/rollout", json={"percent": 25}, headers=BOB)
    await api.post(f"{FLAGS}/f/kill", headers=ANN)
    await api.delete(f"{FLAGS}/f", headers=BOB)

    history = (await api.get(f"{FLAGS}/f/history")).json()
    assert (history["kind"], history["key"]) == ("flag", "f")
    versions = history["versions"]
    assert [(v["version"], v["change"], v["actor"]) for v in versions] == [
        (1, "created", "ann"),
        (2, "updated", "bob"),
        (3, "updated", "ann"),
        (4, "deleted", "bob"),
    ]
    assert versions[1]["diff"] == [
        {"path": "/fallthrough/rollout/percent", "old": 5.0, "new": 25.0}
    ]
    assert versions[2]["diff"] == [{"path": "/on", "old": True, "new": False}]
    assert versions[3]["definition"] is None
    added = {entry["path"]: entry for entry in versions[0]["diff"]}
    assert "old" not in added["/on"] and added["/on"]["new"] is True  # absent, not null


async def test_every_change_is_audited_with_its_actor(api: httpx.AsyncClient, store: Store) -> None:
    await api.put(f"{FLAGS}/f", json=boolean_flag(5), headers=ANN)
    await api.post(f"{FLAGS}/f/rollout", json={"percent": 50}, headers=BOB)
    events = [e for e in store.list_events(None) if e.kind == "flag.changed"]
    assert [(e.actor, e.data["key"], e.data["version"]) for e in events] == [
        ("ann", "f", 1),
        ("bob", "f", 2),
    ]
    assert events[1].data["diff"] == [
        {"path": "/fallthrough/rollout/percent", "old": 5.0, "new": 50.0}
    ]
    assert store.verify_chain(None).ok
    assert events[0].chain == GLOBAL_CHAIN


async def test_delete_removes_the_flag_from_the_config(api: httpx.AsyncClient) -> None:
    await api.put(f"{FLAGS}/a", json=boolean_flag())
    await api.put(f"{FLAGS}/b", json=boolean_flag())
    deleted = await api.delete(f"{FLAGS}/a", headers={**ANN, "If-Match": '"1"'})
    assert deleted.status_code == 200
    assert (deleted.json()["change"], deleted.json()["version"]) == ("deleted", 2)
    assert (await api.get(f"{FLAGS}/a")).status_code == 404
    config = FlagConfig.model_validate_json(
        (await api.get("/api/v1/environments/production/config")).text
    )
    assert ([f.key for f in config.flags], config.version) == (["b"], 3)


async def test_segments_can_be_targeted_and_not_deleted_while_in_use(
    api: httpx.AsyncClient,
) -> None:
    segment = {"included": ["user-1"], "rules": [], "description": "beta testers"}
    put = await api.put(f"{SEGMENTS}/beta", json=segment, headers=ANN)
    assert (put.status_code, put.headers["etag"]) == (200, '"1"')
    flag = {
        "fallthrough": {"variant": "off"},
        "rules": [
            {"clauses": [{"op": "in_segment", "values": ["beta"]}], "serve": {"variant": "on"}}
        ],
    }
    assert (await api.put(f"{FLAGS}/f", json=flag)).status_code == 200
    config = FlagConfig.model_validate_json(
        (await api.get("/api/v1/environments/production/config")).text
    )
    evaluate = compile_config(config).evaluate
    assert evaluate("f", {"targeting_key": "user-1"}, False).value is True
    assert evaluate("f", {"targeting_key": "user-2"}, False).value is False

    in_use = await api.delete(f"{SEGMENTS}/beta")
    assert in_use.status_code == 409
    assert "f" in in_use.json()["detail"]
    assert (await api.delete(f"{FLAGS}/f")).status_code == 200
    assert (await api.delete(f"{SEGMENTS}/beta")).status_code == 200
    assert [
        v["change"] for v in (await api.get(f"{SEGMENTS}/beta/history")).json()["versions"]
    ] == [
        "created",
        "deleted",
    ]
    assert locs(await api.put(f"{SEGMENTS}/s", json={"included": "user-1"})) == [
        ["body", "included"]
    ]
    listed = (await api.get(SEGMENTS)).json()
    assert listed["segments"] == []


async def test_a_segment_has_an_etag_and_honours_if_match_as_a_flag_does(
    api: httpx.AsyncClient,
) -> None:
    beta = f"{SEGMENTS}/beta"
    missing = await api.put(beta, json={"included": ["u"]}, headers={"If-Match": "*"})
    assert missing.status_code == 412
    await api.put(beta, json={"included": ["u"]}, headers={"If-Match": '"0"'})
    await api.put(beta, json={"included": ["u", "v"]}, headers={"If-Match": '"1"'})

    fetched = await api.get(beta)
    assert (fetched.headers["etag"], fetched.json()["definition"]["included"]) == (
        '"2"',
        ["u", "v"],
    )
    stale_put = await api.put(beta, json={"included": []}, headers={"If-Match": '"1"'})
    stale_delete = await api.delete(beta, headers={"If-Match": '"1"'})
    assert (stale_put.status_code, stale_delete.status_code) == (412, 412)
    assert "version 2" in stale_put.json()["detail"]
    deleted = await api.delete(beta, headers={**ANN, "If-Match": "*"})
    assert (deleted.json()["change"], deleted.json()["actor"]) == ("deleted", "ann")


async def test_flag_and_segment_operations_keep_their_names(api: httpx.AsyncClient) -> None:
    spec = (await api.get("/openapi.json")).json()
    names = {
        op["operationId"].split("_api_v1_")[0]
        for path, item in spec["paths"].items()
        if "/flags" in path or "/segments" in path
        for op in item.values()
    }
    assert names == {
        "list_flags", "get_flag", "put_flag", "delete_flag", "flag_history", "set_rollout",
        "kill_flag", "revive_flag",
        "list_segments", "get_segment", "put_segment", "delete_segment", "segment_history",
    }  # fmt: skip


async def test_environments_are_separate(api: httpx.AsyncClient) -> None:
    await api.put(f"{FLAGS}/f", json=boolean_flag())
    await api.put("/api/v1/environments/staging/flags/g", json=boolean_flag())
    assert (await api.get("/api/v1/environments")).json() == {
        "environments": ["production", "staging"]
    }
    staging = (await api.get("/api/v1/environments/staging/flags")).json()
    assert [f["key"] for f in staging["flags"]] == ["g"]
