"""Stage 5, executor: run one integrated solution.py in the sandbox and check what it left, nothing
more. It returns an `Execution` record whatever happened (as the sandbox returns an ExecutionResult),
with the submission and the out-of-fold predictions read back when the run succeeded, so the work
dir is gone by the time the record is used. Fixing is the fix loop's (actors/fixloop.py), writing
the coder's; the executor calls neither.
"""
from __future__ import annotations

import logging
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from pydantic import BaseModel, Field

from actors.context import TaskContext
from actors.harness.diagnose import format_problem, stage_error
from actors.sandbox.readback import MAX_TABLE_BYTES, ReadBackError, read_back
from actors.sandbox.sandbox import ExecutionResult, Sandbox

logger = logging.getLogger(__name__)
SCRIPT = "solution.py"  # names inside the sandbox work dir (the harness's --out-dir contract)
SUBMISSION = "submission.csv"
VAL_PREDICTIONS = "val_predictions.csv"
OOF_RAW = "oof_raw.csv"  # raw out-of-fold predictions (probabilities, values): what the search ensembles


class ExecutorConfig(BaseModel):
    max_fix: int = Field(3, ge=0, description="Fix rounds after the first execution.")


@dataclass(frozen=True)
class Execution:
    """One run of a full script: the sandbox's record, the stage the harness blamed, and what it wrote."""

    number: int
    script: str
    result: ExecutionResult
    stage: str | None  # the stage the error came from (the harness's marker), None for the script
    error: str | None  # None: the run succeeded and its submission has the right shape
    submission: bytes | None = None  # submission.csv, when ok
    val_predictions: bytes | None = None  # val_predictions.csv, when ok and written
    oof_raw: bytes | None = None  # oof_raw.csv, when ok and written

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def duration_s(self) -> float:
        return self.result.duration_s


class Executor:
    def __init__(self, sandbox: Sandbox, config: ExecutorConfig | None = None) -> None:
        self.sandbox = sandbox
        self.config = config or ExecutorConfig()

    def execute(self, number: int, script: str, inputs: dict[str, Path], ctx: TaskContext,
                test_ids: pd.Series, args: tuple[str, ...] = (), timeout_s: float | None = None) -> Execution:
        """Run `script` (with the harness's command-line `args`, e.g. `--folds 0`) and check it; `timeout_s`
        shortens the sandbox's wall-clock limit for this run."""
        sandbox = self.sandbox if timeout_s is None else self.sandbox.limited(timeout_s)
        work = Path(tempfile.mkdtemp(prefix=f"lc-run-{number:02d}-"))
        try:
            (work / SCRIPT).write_text(script)
            result = sandbox.run(work / SCRIPT, work, inputs, args=list(args))
            stage, error = None, None
            if not result.ok:
                stage, error = stage_error(result, work, sandbox.config.timeout_s)
            elif kind := result.special_files.get(SUBMISSION):
                error = f"{SUBMISSION} is {kind}, not a regular file"
            else:
                error = format_problem(work / SUBMISSION, ctx, test_ids)
            if error is not None:
                return Execution(number, script, result, stage, error)
            return Execution(number, script, result, None, None, read_back(work, SUBMISSION, MAX_TABLE_BYTES),
                             _optional(work, VAL_PREDICTIONS), _optional(work, OOF_RAW))
        finally:
            shutil.rmtree(work, ignore_errors=True)


def _optional(work: Path, name: str) -> bytes | None:
    try:
        return read_back(work, name, MAX_TABLE_BYTES)
    except ReadBackError:  # missing, a link, a FIFO, too big: no validation score, said so later
        return None
