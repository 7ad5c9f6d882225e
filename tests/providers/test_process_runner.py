"""The one process runner, with real processes: deadlines that stop everything a command
started, output kept to its end, secrets masked, commands that cannot start, exit codes."""

from __future__ import annotations

import os
import shlex
import signal
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from rollout.errors import TrafficError
from rollout.providers.process import OUTPUT_LIMIT, run
from rollout.providers.secrets import Scrubber

PY = shlex.quote(sys.executable)
SECRET = "s3cret-token-4242"


def alive(pid: int) -> bool:
    """Whether ``pid`` is a running process (a zombie waiting to be reaped is not)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


@pytest.fixture
def pid_file(tmp_path: Path) -> Iterator[Path]:
    """A file a test's command writes a process id to; whatever still runs then is stopped."""
    path = tmp_path / "child.pid"
    yield path
    if path.exists() and alive(pid := int(path.read_text().strip())):
        os.kill(pid, signal.SIGKILL)


def test_a_command_that_runs_to_its_end_says_how_it_exited(tmp_path: Path) -> None:
    finished = run("echo out; echo err >&2; exit 3", timeout=10, cwd=tmp_path)

    assert (finished.returncode, finished.stdout, finished.stderr) == (3, "out\n", "err\n")
    assert not finished.timed_out and finished.cannot_start == ""
    # A non-zero exit is the caller's to judge, not a failure to run.
    assert finished.problem("the script") is None
    assert finished.or_raise("the script", TrafficError) is finished
    assert finished.output == "out\nerr"


def test_the_command_gets_exactly_the_environment_and_directory_given(tmp_path: Path) -> None:
    finished = run(
        'pwd; echo "$ONLY_THIS"; echo "${HOME:-no home}"',
        timeout=10,
        cwd=tmp_path,
        env={"ONLY_THIS": "here", "PATH": os.environ["PATH"]},
    )

    lines = finished.stdout.splitlines()
    assert Path(lines[0]).resolve() == tmp_path.resolve()
    assert lines[1:] == ["here", "no home"]


def test_a_timeout_stops_the_command_and_everything_it_started(
    tmp_path: Path, pid_file: Path
) -> None:

    began = time.monotonic()
    finished = run(
        f"sleep 60 & echo $! > {pid_file}; echo started; wait", timeout=0.5, cwd=tmp_path, grace=1
    )

    assert time.monotonic() - began < 5
    assert finished.timed_out and finished.stdout == "started\n"
    assert not alive(int(pid_file.read_text()))
    assert finished.problem("the set command") == (
        "the set command did not finish within 0.5 s and was stopped; output so far:\nstarted"
    )


def test_a_child_that_ignores_sigterm_is_killed_after_the_grace_time(
    tmp_path: Path, pid_file: Path
) -> None:
    # An ignored signal stays ignored across exec, so this sleep shrugs off SIGTERM.
    command = f"trap '' TERM; sleep 60 & echo $! > {pid_file}; wait"

    began = time.monotonic()
    finished = run(command, timeout=0.3, cwd=tmp_path, grace=0.5)

    assert finished.timed_out
    assert 0.8 <= time.monotonic() - began < 5
    assert not alive(int(pid_file.read_text()))


def test_without_grace_the_group_is_killed_at_the_deadline(tmp_path: Path) -> None:
    began = time.monotonic()
    finished = run("trap '' TERM; sleep 60", timeout=0.3, cwd=tmp_path, grace=0)

    assert finished.timed_out and finished.returncode == -signal.SIGKILL
    assert time.monotonic() - began < 2


def test_a_command_that_closes_its_output_still_times_out(tmp_path: Path) -> None:
    began = time.monotonic()
    finished = run("exec >/dev/null 2>&1; sleep 60", timeout=0.5, cwd=tmp_path, grace=0.5)

    assert finished.timed_out
    assert time.monotonic() - began < 5


def test_a_background_process_holding_the_output_does_not_hold_the_caller(
    tmp_path: Path, pid_file: Path
) -> None:

    began = time.monotonic()
    finished = run(f"sleep 30 & echo $! > {pid_file}; echo deployed", timeout=20, cwd=tmp_path)

    assert finished.returncode == 0 and finished.stdout == "deployed\n"
    assert time.monotonic() - began < 5
    # A deploy may leave a service running on purpose: it is not killed.
    assert alive(int(pid_file.read_text()))


def test_only_the_end_of_a_long_output_is_kept(tmp_path: Path) -> None:
    command = f"{PY} -c \"print('x' * 200_000); print('the end')\""

    finished = run(command, timeout=10, cwd=tmp_path)

    assert len(finished.stdout) == OUTPUT_LIMIT and finished.stdout.endswith("x\nthe end\n")
    assert finished.stdout_dropped == 200_000 + len("\nthe end\n") - OUTPUT_LIMIT
    assert finished.stderr_dropped == 0
    assert finished.output == "…" + finished.stdout.strip()[-2000:]


def test_without_a_limit_all_of_the_output_is_kept(tmp_path: Path) -> None:
    command = f"{PY} -c \"print('x' * 200_000)\""

    finished = run(command, timeout=10, cwd=tmp_path, limit=None)

    assert finished.stdout == "x" * 200_000 + "\n" and finished.stdout_dropped == 0


def test_secrets_are_masked_in_the_output_and_in_the_timeout_message(tmp_path: Path) -> None:
    scrub = Scrubber((SECRET,))
    env = {**os.environ, "TOKEN": SECRET}

    done = run('echo "using ${TOKEN}"; echo "bad ${TOKEN}" >&2', timeout=10, env=env, scrub=scrub)
    stopped = run('echo "still ${TOKEN}"; sleep 30', timeout=0.3, env=env, scrub=scrub, grace=0)

    assert (done.stdout, done.stderr) == ("using ****\n", "bad ****\n")
    said = stopped.problem("the get command")
    assert said is not None and "still ****" in said and SECRET not in said


def test_a_command_the_shell_cannot_find_or_run_says_so(tmp_path: Path) -> None:
    (tmp_path / "smoke.sh").write_text("#!/bin/sh\necho hi\n")

    missing = run("no-such-command-anywhere --check", timeout=10, cwd=tmp_path)
    not_executable = run("./smoke.sh", timeout=10, cwd=tmp_path)

    assert (missing.returncode, missing.cannot_start) == (127, "command not found")
    assert "no-such-command-anywhere" in missing.stderr
    said = missing.problem("the metric command")
    assert said is not None
    assert said.startswith("the metric command could not be started: command not found; its ")
    assert not_executable.cannot_start == "found but not executable"


def test_a_program_run_directly_that_does_not_exist_cannot_start(tmp_path: Path) -> None:
    finished = run([str(tmp_path / "no-nginx-here"), "-t"], timeout=10)

    assert finished.returncode is None and "no-nginx-here" in finished.start_error
    with pytest.raises(TrafficError, match=r"^nginx -t could not be started: .*no-nginx-here"):
        finished.or_raise("nginx -t", TrafficError)


def test_a_program_run_directly_owns_its_exit_codes(tmp_path: Path) -> None:
    finished = run([sys.executable, "-c", "raise SystemExit(127)"], timeout=10)

    assert finished.returncode == 127 and finished.cannot_start == ""


@pytest.mark.parametrize(
    ("cwd", "env", "why"),
    [
        ("missing", None, r"the working directory .*missing does not exist"),
        (".", {"BROKEN": "a\x00b"}, "embedded null byte"),
    ],
)
def test_what_stops_a_command_before_it_starts_is_said_not_raised(
    tmp_path: Path, cwd: str, env: dict[str, str] | None, why: str
) -> None:
    finished = run("true", timeout=10, cwd=tmp_path / cwd, env=env)

    assert finished.returncode is None
    with pytest.raises(TrafficError, match=f"^the check could not be started: {why}$"):
        finished.or_raise("the check", TrafficError)
