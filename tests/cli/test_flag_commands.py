"""``rollout flags`` as a user runs it, against the local store and against a real server
(``--server``): the same commands, the same results, the same messages and exit codes."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from cli_support import run

from rollout.server.app import create_app
from rollout.server.run import BackgroundServer
from rollout.store import Store, open_store

WRITES = {"set", "rollout", "kill", "revive", "delete"}


class Target:
    """Where the commands go: ``options`` select it; ``store`` sees what they did."""

    def __init__(self, options: list[str], store: Store) -> None:
        self.options = options
        self.store = store


@pytest.fixture(scope="module")
def migrated_sqlite(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An empty store file with the schema applied, made once; tests get copies."""
    path = tmp_path_factory.mktemp("template") / "rollout.db"
    open_store(f"sqlite:///{path}").close()
    return path


@pytest.fixture(params=["local", "server"])
def target(
    request: pytest.FixtureRequest, tmp_path: Path, migrated_sqlite: Path
) -> Iterator[Target]:
    path = tmp_path / "rollout.db"
    shutil.copyfile(migrated_sqlite, path)
    url = f"sqlite:///{path}"
    with open_store(url) as store:
        if request.param == "local":
            yield Target(["--database", url], store)
            return
        with BackgroundServer(create_app(store, auth=False)) as server:
            yield Target(["--server", server.url], store)


def flags(capsys: pytest.CaptureFixture[str], target: Target, *args: str) -> tuple[int, str, str]:
    """``rollout flags ARGS`` on the target; changes are made as ann."""
    actor = ["--actor", "ann"] if args[0] in WRITES else []
    return run(capsys, "flags", *args, *target.options, *actor)


def test_set_inline_then_ramp_kill_revive(
    capsys: pytest.CaptureFixture[str], target: Target
) -> None:
    code, out, _ = flags(capsys, target, "set", "new-checkout", "--percent", "5")
    assert code == 0
    assert out == "Set new-checkout in production (version 1): on; on 5% / off 95%\n"

    code, out, _ = flags(capsys, target, "rollout", "new-checkout", "25")
    assert (code, out) == (
        0,
        "Rolled out new-checkout in production (version 2): on; on 25% / off 75%\n",
    )

    code, out, _ = flags(capsys, target, "kill", "new-checkout")
    assert (
        out == "Killed new-checkout in production (version 3): killed: serves 'off' to everyone\n"
    )
    code, out, _ = flags(capsys, target, "revive", "new-checkout")
    assert out.endswith("(version 4): on; on 25% / off 75%\n")

    record = target.store.get_flag("production", "new-checkout")
    assert (record.version, record.updated_by) == (4, "ann")
    assert record.definition["fallthrough"]["rollout"]["percent"] == 25
    events = [e for e in target.store.list_events(None) if e.kind == "flag.changed"]
    assert [e.actor for e in events] == ["ann"] * 4


def test_list_and_get(capsys: pytest.CaptureFixture[str], target: Target) -> None:
    flags(capsys, target, "set", "b-flag", "--percent", "50", "--env", "staging")
    flags(capsys, target, "set", "a-flag", "--off", "--env", "staging")
    code, out, _ = flags(capsys, target, "list", "--env", "staging")
    assert code == 0
    assert out.splitlines() == [
        "a-flag  v1  ann  killed: serves 'off' to everyone",
        "b-flag  v1  ann  on; on 50% / off 50%",
    ]
    code, out, err = flags(capsys, target, "get", "b-flag", "--env", "staging")
    assert code == 0
    assert json.loads(out)["fallthrough"]["rollout"]["percent"] == 50
    assert "version 1, by ann" in err

    code, out, _ = flags(capsys, target, "list", "--env", "staging", "--json")
    assert [entry["key"] for entry in json.loads(out)] == ["a-flag", "b-flag"]
    code, out, err = flags(capsys, target, "list")
    assert (code, out, err) == (0, "", "No flags in production.\n")


def test_set_from_files_round_trips_through_get(
    capsys: pytest.CaptureFixture[str], target: Target, tmp_path: Path
) -> None:
    yaml_file = tmp_path / "colours.yaml"
    yaml_file.write_text(
        "variants: {red: '#f00', blue: '#00f'}\n"
        "rules:\n"
        "  - clauses: [{attribute: country, op: in, values: [NL, BE]}]\n"
        "    serve: {variant: blue}\n"
        "fallthrough: {variant: red}\n",
        encoding="utf-8",
    )
    code, out, _ = flags(capsys, target, "set", "colours", "--file", str(yaml_file))
    assert (code, out) == (0, "Set colours in production (version 1): on; 1 rule; then 'red'\n")

    _, definition, _ = flags(capsys, target, "get", "colours")
    json_file = tmp_path / "colours.json"
    json_file.write_text(definition, encoding="utf-8")
    code, out, _ = flags(capsys, target, "set", "colours", "--file", str(json_file))
    assert out.startswith("Set colours in production (version 1)")  # the same flag: unchanged


def test_history_shows_who_changed_what(capsys: pytest.CaptureFixture[str], target: Target) -> None:
    flags(capsys, target, "set", "f", "--percent", "5")
    flags(capsys, target, "rollout", "f", "12.5")
    code, out, _ = flags(capsys, target, "history", "f")
    assert code == 0
    lines = out.splitlines()
    assert lines[0].startswith("v1  ") and lines[0].endswith("  ann  created")
    assert lines[1].endswith("  ann  updated")
    assert lines[2] == "    /fallthrough/rollout/percent: 5.0 -> 12.5"
    code, out, _ = flags(capsys, target, "history", "f", "--json")
    assert [entry["version"] for entry in json.loads(out)] == [1, 2]


def test_a_bad_definition_names_the_field_and_exits_2(
    capsys: pytest.CaptureFixture[str], target: Target, tmp_path: Path
) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(
        json.dumps({"fallthrough": {"variant": "blue"}, "rules": [{"clauses": []}]}),
        encoding="utf-8",
    )
    code, out, err = flags(capsys, target, "set", "f", "--file", str(bad))
    assert code == 2 and out == ""
    assert "rules[0].clauses: a rule needs at least one clause" in err
    assert "rules[0].serve: Field required" in err
    assert "Traceback" not in err

    code, _, err = flags(capsys, target, "set", "f", "--percent", "150")
    assert code == 2
    assert err.startswith("fallthrough.rollout.percent: ")

    flags(capsys, target, "set", "f", "--percent", "5")
    code, _, err = flags(capsys, target, "rollout", "f", "101")
    assert (code, err.split(":")[0]) == (2, "percent")
    assert target.store.get_flag("production", "f").version == 1


def test_a_missing_flag_exits_2(capsys: pytest.CaptureFixture[str], target: Target) -> None:
    for command in ("get", "kill", "history"):
        code, _, err = flags(capsys, target, command, "nope")
        assert code == 2, command
        assert "no flag 'nope' in 'production'" in err


def test_if_version_refuses_a_stale_change(
    capsys: pytest.CaptureFixture[str], target: Target
) -> None:
    flags(capsys, target, "set", "f", "--percent", "5")
    flags(capsys, target, "rollout", "f", "10")
    code, _, err = flags(capsys, target, "kill", "f", "--if-version", "1")
    assert code == 1
    assert err.startswith("error: ") and "version 2" in err
    code, out, _ = flags(capsys, target, "kill", "f", "--if-version", "2")
    assert (code, "version 3" in out) == (0, True)


def test_delete(capsys: pytest.CaptureFixture[str], target: Target) -> None:
    flags(capsys, target, "set", "f")
    code, out, _ = flags(capsys, target, "delete", "f")
    assert (code, out) == (0, "Deleted f in production (version 2)\n")
    assert target.store.list_flags("production") == []


def test_file_mistakes_are_reported_plainly(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    database = ["--database", f"sqlite:///{tmp_path / 'r.db'}"]
    broken = tmp_path / "broken.yaml"
    broken.write_text("fallthrough: {variant: on\n", encoding="utf-8")
    code, _, err = run(capsys, "flags", "set", "f", "--file", str(broken), *database)
    assert code == 2 and err.startswith(f"{broken}:") and "not valid YAML" in err

    listing = tmp_path / "list.json"
    listing.write_text("[1, 2]", encoding="utf-8")
    code, _, err = run(capsys, "flags", "set", "f", "--file", str(listing), *database)
    assert (code, "a flag definition is a mapping" in err) == (2, True)

    code, _, err = run(capsys, "flags", "set", "f", "--file", str(tmp_path / "no.json"), *database)
    assert (code, "cannot read" in err) == (2, True)

    code, _, err = run(
        capsys, "flags", "set", "f", "--file", str(listing), "--percent", "5", *database
    )
    assert (code, "either --file or the inline options" in err) == (2, True)


def test_an_unreachable_server_is_an_error_not_a_traceback(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from rollout.server.run import bind, url_of

    sock = bind("127.0.0.1", 0)
    url = url_of(sock)
    sock.close()  # nothing listens there any more
    code, _, err = run(capsys, "flags", "list", "--server", url)
    assert code == 1
    assert err.startswith(f"error: cannot reach the server at {url}")


def test_server_from_the_environment(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with (
        open_store(f"sqlite:///{tmp_path / 'server.db'}") as store,
        BackgroundServer(create_app(store, auth=False)) as server,
    ):
        monkeypatch.setenv("ROLLOUT_SERVER", server.url)
        monkeypatch.setenv("ROLLOUT_ACTOR", "carol")
        code, _, _ = run(capsys, "flags", "set", "f", "--percent", "1")
        assert code == 0
        assert store.get_flag("production", "f").updated_by == "carol"
