"""The broken-plan corpus: every file under broken/ states, in leading ``# expect:`` comments,
exactly the problems the loader must report (line, column, field path and message), all of them
and nothing more."""

from __future__ import annotations

from pathlib import Path

import pytest

from rollout.errors import PlanError
from rollout.plan import load_plan

BROKEN = Path(__file__).parent / "broken"
CORPUS = sorted(BROKEN.glob("*.yaml"))
MARK = "# expect: "


def _expected(path: Path) -> list[str]:
    return [
        line.removeprefix(MARK)
        for line in path.read_text(encoding="utf-8").splitlines()
        if line.startswith(MARK)
    ]


def test_the_corpus_is_large_enough() -> None:
    assert len(CORPUS) >= 30


@pytest.mark.parametrize("path", CORPUS, ids=lambda path: path.name)
def test_broken_plan_reports_exactly_its_problems(path: Path) -> None:
    expected = _expected(path)
    assert expected, f"{path.name} states no expected problems"
    with pytest.raises(PlanError) as caught:
        load_plan(path)
    reported = [str(problem).removeprefix(f"{path}:") for problem in caught.value.problems]
    assert reported == expected


@pytest.mark.parametrize("path", CORPUS, ids=lambda path: path.name)
def test_every_problem_points_into_the_file(path: Path) -> None:
    lines = path.read_text(encoding="utf-8").splitlines()
    with pytest.raises(PlanError) as caught:
        load_plan(path)
    for problem in caught.value.problems:
        assert problem.file == str(path)
        assert 1 <= problem.line <= len(lines) + 1
        assert problem.column >= 1
        if problem.line <= len(lines):
            assert problem.column <= len(lines[problem.line - 1]) + 1
