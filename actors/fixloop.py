"""The fix loop: execute the script, and on failure have the writer reflect on the error and repair the
script, at most `max_fix` rounds. The loop owns the loop; the executor only runs and checks, the
writer (the staged coder, actors/stages/staged.py, or the vanilla writer, actors/stages/vanilla.py)
only writes, and neither calls the other.

`Runner` is every execution of one competition: numbered in order (attempts/NN), its artifacts
written, its record journaled. The fix loop, the floor and the search all run scripts through it.
"""
from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Protocol

import pandas as pd

from actors.context import TaskContext
from actors.deadline import Deadline
from actors.executor import Execution, Executor
from actors.journal import Attempt, Journal
from storage.artifacts import CompetitionArtifacts

logger = logging.getLogger(__name__)


class ScriptWriter(Protocol):
    """The writing side of the fix loop."""

    def script(self) -> str | None:
        """The current script, or None when there is none to run."""

    def reflect(self, failure: Execution) -> str:
        """A short reflection on why the execution failed (fed to the repair)."""

    def repair(self, failure: Execution, reflection: str | None, reset: bool, parent: int) -> bool:
        """Rewrite what failed; False when no repair could be written. `reset`: the same error as the
        round before, so start afresh. `parent`: the journal id of the failed execution."""


@dataclass(frozen=True)
class LoopOutcome:
    execution: Execution | None  # the successful execution, None when every round failed
    error: str | None  # the last error when there is no successful execution

    @property
    def ok(self) -> bool:
        return self.execution is not None


class Runner:
    """Runs scripts of one competition through the executor: numbers, artifacts, journal."""

    def __init__(self, executor: Executor, artifacts: CompetitionArtifacts, journal: Journal, ctx: TaskContext,
                 inputs: dict[str, Path], test_ids: pd.Series, args: tuple[str, ...] = ()) -> None:
        self.executor = executor
        self.args = args  # the harness flags of every run unless a run names its own (e.g. --folds 5)
        self.artifacts = artifacts
        self.journal = journal
        self.ctx = ctx
        self.inputs = inputs
        self.test_ids = test_ids

    def run(self, script: str, parent: int | None = None, args: tuple[str, ...] | None = None,
            timeout_s: float | None = None) -> tuple[Execution, int]:
        """The execution and its journal id; attempts/NN/ is written before this returns."""
        number = self.journal.executions + 1
        execution = self.executor.execute(number, script, self.inputs, self.ctx, self.test_ids,
                                          self.args if args is None else args, timeout_s)
        self.artifacts.attempt(number, script, execution.result.stdout, execution.result.stderr,
                               {**asdict(execution.result), "error": execution.error, "stage": execution.stage})
        return execution, self.journal.add("execution", Attempt.of(execution), parent)


MIN_RUN_S = 30.0  # the least time a run under a deadline gets (a small task's run takes seconds)


def fix_loop(writer: ScriptWriter, runner: Runner, max_fix: int, parent: int | None = None,
             label: str = "linguacodus", deadline: Deadline | None = None) -> LoopOutcome:
    """Execute, and repair what failed, until a run succeeds, max_fix repairs are spent or the deadline
    has passed (checked before each repair: the reflection and the repair are model calls). Under a
    deadline a run's wall-clock limit is what is left of it (at least MIN_RUN_S)."""
    cid = runner.ctx.competition.competition_id
    last_error: str | None = None
    error = "no script could be generated"
    for round_ in range(max_fix + 1):
        script = writer.script()
        if script is None:
            break
        # a run may take what is left of the share, at least MIN_RUN_S: on 262,816 rows a staged
        # extra-trees run started with 51 s left would have run 5+ min of the search's time
        execution, entry = runner.run(script, parent, timeout_s=None if deadline is None
                                      else max(MIN_RUN_S, deadline.left()))
        logger.info("%s fix loop: %s attempt %d %s", cid, label, execution.number, "ok" if execution.ok else
                    f"failed ({execution.stage or 'script'}): {(execution.error or '')[:200]}")
        if execution.ok:
            return LoopOutcome(execution, None)
        error = execution.error or ""
        reset = error == last_error
        can_repair = round_ < max_fix
        if can_repair and deadline is not None and deadline.passed():
            error = f"{deadline.why(f'after attempt {execution.number}')}; last error: {error}"
            break
        reflection = writer.reflect(execution) if can_repair else None
        runner.journal.update(entry, reflection=reflection, reset=reset)
        if not can_repair or not writer.repair(execution, reflection, reset, entry):
            break
        last_error = error
        # the next execution descends from the repair (the stage attempt that wrote it), else from this one
        fix = runner.journal.last("stage", "execution")
        parent = fix.id if fix is not None else entry
    return LoopOutcome(None, error)
