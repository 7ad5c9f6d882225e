"""A controller killed right after saving a rollout's end, before its final announcement went
out: the next controller leases the ended rollout and sends it, exactly once per key, to a real
HTTP receiver (signed ``json://`` webhook, which carries the key as ``X-Rollout-Delivery``)."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest
from shell_plans import START, feature_flag, write_plan, write_scripts
from shell_receiver import inbox
from shell_worker import Worker

from rollout.engine.controller import DEFAULT_LEASE_TTL, start_rollout
from rollout.store import ActionStatus, open_store


def announced(channel: str) -> str:
    return feature_flag(duration="2m") + (
        "communication:\n"
        "  - when: [succeeded]\n"
        "    audience: engineering\n"
        f"    channel: {channel}?secret=s3cret\n"
        "    message: '{rollout} {state}: {reason}'\n"
    )


def run_until_the_end_with_a_crash_at_the_final_save(
    worker: Worker, url: str, folder: Path
) -> None:
    folder.mkdir()
    write_scripts(folder)
    clock_file = folder / "clock"
    clock_file.write_text(repr(START))
    with inbox() as box, open_store(url) as store:
        rid = start_rollout(store, write_plan(folder, announced(box.channel())), None, "a").id
        request = {
            "url": url,
            "cwd": str(folder),
            "rollout": rid,
            "clock_file": str(clock_file),
            "step": 60.0,
            "ticks": 60,
        }

        first = worker.run(**request, owner="first", crash_at="final:1")
        assert first == {"signal": signal.SIGKILL}
        record = store.get_rollout(rid)
        assert (record.status.value, record.pending_work, record.lease_owner) == (
            "succeeded",
            True,
            "first",
        )
        assert box.keyed() == []  # killed before the announcement went out
        notify = [a for a in store.list_actions(rid) if a.kind == "notify"]
        assert notify == []  # not even its intent was recorded

        # The dead controller's lease runs out; a new controller takes the ended rollout.
        clock_file.write_text(repr(float(clock_file.read_text()) + DEFAULT_LEASE_TTL + 1))
        assert worker.run(**request, owner="second", crash_at=None) == {"exit": 0}

        (sent,) = [a for a in store.list_actions(rid) if a.kind == "notify"]
        assert sent.status is ActionStatus.DONE
        assert box.keyed() == [
            (sent.key, f"{rid} succeeded: 2.0 is fully rolled out and validated in production")
        ]
        record = store.get_rollout(rid)
        assert (record.status.value, record.pending_work, record.lease_owner) == (
            "succeeded",
            False,
            None,
        )
        actors = {e.actor for e in store.list_events(rid) if e.kind.startswith("action.")}
        assert "second" in actors
        assert store.verify_chain(rid).ok

        # Nothing is left to do: no controller leases it again, nothing is sent again.
        assert worker.run(**request, owner="third", crash_at=None) == {"exit": 0}
        assert len(box.keyed()) == 1


def test_the_final_announcement_survives_a_crash_on_sqlite(worker: Worker, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'rollout.db'}"
    run_until_the_end_with_a_crash_at_the_final_save(worker, url, tmp_path / "work")


@pytest.mark.postgres
def test_the_final_announcement_survives_a_crash_on_postgresql(
    worker: Worker, pg_url: str, tmp_path: Path
) -> None:
    run_until_the_end_with_a_crash_at_the_final_save(worker, pg_url, tmp_path / "work")
