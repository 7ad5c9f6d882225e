"""``rollout audit verify`` as an auditor runs it: intact chains pass; an edited or a deleted
event fails with exit 1 and names the first bad event; mistakes in the command exit 2."""

from __future__ import annotations

import pytest
import sqlalchemy
from api_support import plan, run

from rollout.engine.controller import send_verb, start_rollout
from rollout.store import Store


def tamper(db_url: str, statement: str, **values: object) -> None:
    engine = sqlalchemy.create_engine(db_url)
    with engine.begin() as connection:
        connection.execute(sqlalchemy.text(statement), values)
    engine.dispose()


@pytest.fixture
def rollouts(store: Store) -> tuple[str, str]:
    first = start_rollout(store, plan("one"), None, "alice").id
    second = start_rollout(store, plan("two"), None, "alice").id
    for rollout_id in (first, second):
        for word in ("first", "second", "third"):
            send_verb(store, rollout_id, "abort", "alice", word)
    store.create_token("ci", "deployer")  # an event on the global chain
    return first, second


def test_intact_chains_pass(
    capsys: pytest.CaptureFixture[str], db_url: str, rollouts: tuple[str, str]
) -> None:
    first, second = rollouts
    code, out, _ = run(capsys, "audit", "verify", first, "--database", db_url)
    assert (code, out) == (0, f"chain {first}: 4 events, intact\n")

    code, out, _ = run(capsys, "audit", "verify", "--all", "--database", db_url)
    assert code == 0
    assert out.splitlines() == [
        "chain ~global: 1 events, intact",
        *sorted([f"chain {first}: 4 events, intact", f"chain {second}: 4 events, intact"]),
    ]


def test_an_edited_event_is_caught_and_named(
    capsys: pytest.CaptureFixture[str], db_url: str, rollouts: tuple[str, str]
) -> None:
    first, _ = rollouts
    tamper(
        db_url,
        "UPDATE events SET message = 'alice asked to pause the rollout' "
        "WHERE chain = :chain AND seq = 3",
        chain=first,
    )
    code, out, err = run(capsys, "audit", "verify", first, "--database", db_url)
    assert code == 1
    assert out == f"chain {first}: event 3: its content does not match its hash: it was edited\n"
    assert err.startswith(
        f"TAMPERED: chain {first}, event 3: its content does not match its hash: it was edited\n"
    )
    assert "alice  command.abort  alice asked to pause the rollout" in err


def test_a_deleted_event_is_caught_and_so_is_every_broken_chain_with_all(
    capsys: pytest.CaptureFixture[str], db_url: str, rollouts: tuple[str, str]
) -> None:
    first, second = rollouts
    tamper(db_url, "DELETE FROM events WHERE chain = :chain AND seq = 2", chain=second)
    code, out, err = run(capsys, "audit", "verify", second, "--database", db_url)
    assert code == 1
    missing = "event 2: event 2 is missing (the next stored one is 3)"
    assert out == f"chain {second}: {missing}\n"
    assert err == f"TAMPERED: chain {second}, {missing}\n"

    tamper(db_url, "UPDATE events SET actor = 'bob' WHERE chain = :chain AND seq = 4", chain=first)
    code, out, _ = run(capsys, "audit", "verify", "--all", "--database", db_url)
    assert code == 1
    broken = sorted(line.split(":")[0] for line in out.splitlines() if "intact" not in line)
    assert broken == sorted([f"chain {first}", f"chain {second}"])


def test_mistakes_in_the_command_exit_2(
    capsys: pytest.CaptureFixture[str], db_url: str, rollouts: tuple[str, str]
) -> None:
    first, _ = rollouts
    code, _, err = run(capsys, "audit", "verify", "--database", db_url)
    assert code == 2 and "or pass --all" in err
    code, _, err = run(capsys, "audit", "verify", first, "--all", "--database", db_url)
    assert code == 2
    code, _, err = run(capsys, "audit", "verify", "ro_nobody", "--database", db_url)
    assert (code, err) == (2, "no rollout ro_nobody (see `rollout status`)\n")
