"""The fix loop with the real executor and sandbox on penguins and a writer that only writes: a failed
execution is reflected on and repaired, the same error twice is a reset, the budget is max_fix repairs,
and every execution is numbered, written to attempts/NN/ and journaled with its parent."""
from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import pytest

from actors.deadline import Deadline
from actors.executor import Execution, Executor
from actors.fixloop import Runner, fix_loop
from actors.harness.integrate import assemble, floor_stages
from actors.journal import Journal
from actors.sandbox.sandbox import Sandbox, SandboxConfig
from jobs.inputs import stage_inputs
from storage.artifacts import CompetitionArtifacts
from storage.layout import CompetitionLayout
from tests.helpers.open_tasks import context

pytestmark = pytest.mark.sandbox


@dataclass
class Writer:
    """Writes scripts from a list: each repair takes the next one."""

    scripts: list[str]
    seen: list[tuple[str | None, bool]] = field(default_factory=list)  # (reflection, reset) of each repair

    def script(self) -> str | None:
        return self.scripts[0] if self.scripts else None

    def reflect(self, failure: Execution) -> str:
        return f"reflected on: {failure.error}"

    def repair(self, failure: Execution, reflection: str | None, reset: bool, parent: int) -> bool:
        self.seen.append((reflection, reset))
        self.scripts.pop(0)
        return bool(self.scripts)


@pytest.fixture
def runner(tmp_path: Path) -> Runner:
    ctx = context("penguins")
    inputs = stage_inputs(ctx.competition, tmp_path / "staged")
    test_ids = pd.read_csv(inputs["test.csv"], dtype={"id": str})["id"]
    return Runner(Executor(Sandbox(SandboxConfig(timeout_s=120))), CompetitionArtifacts(
        CompetitionLayout(str(tmp_path / "out"))), Journal(), ctx, inputs, test_ids)


def floor(runner: Runner) -> str:
    return assemble(runner.ctx.harness_constants(), floor_stages())


def test_a_failed_run_is_reflected_on_and_repaired_and_every_run_is_recorded(runner: Runner, tmp_path: Path):
    broken = "raise RuntimeError('boom')\n"
    writer = Writer([broken, broken, floor(runner)])
    outcome = fix_loop(writer, runner, max_fix=3)
    assert outcome.ok and outcome.execution.number == 3 and outcome.execution.submission.startswith(b"id,")
    assert writer.seen == [("reflected on: " + writer_error(runner, 1), False),
                           ("reflected on: " + writer_error(runner, 2), True)]  # the same error twice: a reset
    attempts = runner.journal.attempts()
    assert [a["ok"] for a in attempts] == [False, False, True] and [a["reset"] for a in attempts] == [False, True, False]
    assert [a["parent"] for a in attempts] == [None, attempts[0]["id"], attempts[1]["id"]]
    for n in (1, 2, 3):
        assert json.loads((tmp_path / "out" / "attempts" / f"{n:02d}" / "result.json").read_text())["exit_code"] is not None


def test_the_budget_is_max_fix_repairs_and_the_last_error_is_the_outcome(runner: Runner):
    writer = Writer(["raise RuntimeError('one')\n", "raise RuntimeError('two')\n", floor(runner)])
    outcome = fix_loop(writer, runner, max_fix=1)
    assert not outcome.ok and "two" in outcome.error and runner.journal.executions == 2
    assert runner.journal.attempts()[-1]["reflection"] is None  # no repair left to use it


def test_past_its_deadline_the_loop_repairs_nothing_and_says_why(runner: Runner):
    writer = Writer(["raise RuntimeError('one')\n", floor(runner)])
    outcome = fix_loop(writer, runner, max_fix=3, deadline=Deadline(time.monotonic(), 150.0))
    assert not outcome.ok and writer.seen == [] and runner.journal.executions == 1  # the first run is not cut
    assert outcome.error.startswith("out of its budget share (150 s) after attempt 1; last error: ")
    assert "one" in outcome.error and runner.journal.attempts()[-1]["reflection"] is None


def test_a_run_under_a_deadline_is_cut_where_the_share_ends(runner: Runner, monkeypatch):
    # a staged run on 262,816 rows started with 51 s of the share left and ran 5+ min of the search's time
    monkeypatch.setattr("actors.fixloop.MIN_RUN_S", 2.0)
    slow = floor(runner).replace("def main(", "import time\ntime.sleep(90)\n\ndef main(", 1)
    assert slow != floor(runner)
    writer = Writer([slow, floor(runner)])
    started = time.monotonic()
    outcome = fix_loop(writer, runner, max_fix=3, deadline=Deadline(time.monotonic() + 4, 150.0))
    assert time.monotonic() - started < 30 and runner.journal.executions == 1 and writer.seen == []
    assert outcome.error.startswith("out of its budget share (150 s) after attempt 1; last error: ")
    assert re.search(r"the script did not finish within [234](\.\d+)? s", outcome.error), outcome.error
    floor_run = fix_loop(Writer([floor(runner)]), runner, max_fix=0)  # no deadline: the sandbox's own limit
    assert floor_run.ok


def writer_error(runner: Runner, number: int) -> str:
    return runner.journal.record(runner.journal.of("execution")[number - 1].id).error
