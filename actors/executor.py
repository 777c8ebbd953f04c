"""Stage 5, executor: run solution.py in the sandbox; on failure the error plus a short reflection
on it goes back to the coder, at most `max_fix` rounds. Every execution is kept as an attempt.

linguacodus mode repairs only the stage that failed (the harness names it); vanilla mode rewrites
the whole script. Both share the sandbox, the budget, the reflection and the identical-error reset.
"""
from __future__ import annotations

import logging
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import pandas as pd
from pydantic import BaseModel, Field

from actors.stages.coder import Coder, Sink, StageLog, stage_error
from actors.context import TaskContext
from actors.stages.instruction import Instruction
from actors.harness.integrate import assemble
from actors.sandbox.readback import MAX_TABLE_BYTES, MissingFile, ReadBackError, read_back_csv
from actors.sandbox.sandbox import ExecutionResult, Sandbox

logger = logging.getLogger(__name__)


class ExecutorConfig(BaseModel):
    max_fix: int = Field(3, ge=0, description="Fix rounds after the first execution.")


@dataclass(frozen=True)
class Attempt:
    number: int
    ok: bool
    stage: str | None  # the stage the error came from (linguacodus mode)
    error: str | None
    reflection: str | None
    reset: bool
    exit_code: int | None
    duration_s: float
    timed_out: bool
    killed_reason: str | None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class ExecutionOutcome:
    ok: bool
    script: str | None
    workdir: Path | None  # holds submission.csv and val_predictions.csv when ok
    attempts: list[Attempt]
    seconds_exec: float
    error: str | None


def format_problem(path: Path, ctx: TaskContext, test_ids: pd.Series) -> str | None:
    """Checks a submission can make without the private answers (ids from test.csv, columns)."""
    try:
        sub = read_back_csv(path.parent, path.name, MAX_TABLE_BYTES, dtype={ctx.competition.id_column: str})
    except MissingFile:
        return "the script finished but wrote no submission.csv into --out-dir"
    except ReadBackError as exc:
        return str(exc)
    except Exception as exc:  # noqa: BLE001 - any unreadable file is the script's fault
        return f"submission.csv is not a readable CSV: {exc}"
    expected = ctx.submission_columns()
    if sorted(map(str, sub.columns)) != sorted(expected):
        return f"submission.csv must have exactly the columns {expected}, it has {list(sub.columns)[:12]}"
    if len(sub) != len(test_ids):
        return f"submission.csv must have {len(test_ids)} rows (one per test.csv id), it has {len(sub)}"
    if set(sub[ctx.competition.id_column].astype(str)) != set(test_ids.astype(str)):
        return "submission.csv ids must be exactly the ids of test.csv (predict on test.csv, not on train)"
    if sub.isna().any().any():
        return "submission.csv has missing values"
    return None


class Executor:
    def __init__(self, sandbox: Sandbox, coder: Coder, config: ExecutorConfig | None = None) -> None:
        self.sandbox = sandbox
        self.coder = coder
        self.config = config or ExecutorConfig()

    def execute(self, number: int, script: str, inputs: dict[str, Path], sink: Sink,
                 ctx: TaskContext, test_ids: pd.Series) -> tuple[ExecutionResult, Path, str | None, str | None]:
        work = Path(tempfile.mkdtemp(prefix=f"lc-run-{number:02d}-"))
        (work / "solution.py").write_text(script)
        result = self.sandbox.run(work / "solution.py", work, inputs)
        stage, error = (None, None)
        if not result.ok:
            stage, error = stage_error(result, work, self.sandbox.config.timeout_s)
        elif kind := result.special_files.get("submission.csv"):
            error = f"submission.csv is {kind}, not a regular file"
        else:
            error = format_problem(work / "submission.csv", ctx, test_ids)
        base = f"attempts/{number:02d}"
        sink.text(f"{base}/code.py", script)
        sink.text(f"{base}/stdout.txt", result.stdout)
        sink.text(f"{base}/stderr.txt", result.stderr)
        sink.json(f"{base}/result.json", {**asdict(result), "error": error, "stage": stage})
        return result, work, stage, error

    def run(self, ctx: TaskContext, inputs: dict[str, Path], sink: Sink, test_ids: pd.Series, *,
            script_for: Callable[[], str | None], repair: Callable[[str | None, str, str, str, bool], bool],
            log_prefix: str) -> ExecutionOutcome:
        """Generic loop: script_for() gives the current script; repair(stage, code, error, reflection,
        reset) updates it (returns False when no repair could be produced)."""
        attempts: list[Attempt] = []
        seconds = 0.0
        last_error: str | None = None
        work: Path | None = None
        for number in range(1, self.config.max_fix + 2):
            script = script_for()
            if script is None:
                break
            result, work, stage, error = self.execute(number, script, inputs, sink, ctx, test_ids)
            seconds += result.duration_s
            ok = error is None
            reset = error is not None and error == last_error
            reflection = None
            if not ok and number <= self.config.max_fix:
                reflection = self.coder.reflect(ctx, script if stage is None else _stage_snippet(script, stage),
                                                error or "")
            attempts.append(Attempt(number, ok, stage, error, reflection, reset, result.exit_code,
                                    result.duration_s, result.timed_out, result.killed_reason))
            logger.info("%s executor: %s attempt %d %s", ctx.competition.competition_id, log_prefix, number,
                        "ok" if ok else f"failed ({stage or 'script'}): {(error or '')[:200]}")
            if ok:
                return ExecutionOutcome(True, script, work, attempts, seconds, None)
            shutil.rmtree(work, ignore_errors=True)
            work = None
            if number > self.config.max_fix or not repair(stage, script, error or "", reflection or "", reset):
                break
            last_error = error
        final = attempts[-1].error if attempts else "no script could be generated"
        return ExecutionOutcome(False, None, None, attempts, seconds, final)


def _stage_snippet(script: str, stage: str) -> str:
    marker = f"# ---- stage: {stage} "
    if marker not in script:
        return script[-3000:]
    tail = script.split(marker, 1)[1]
    return tail.split("# ---- stage:", 1)[0].split('if __name__ == "__main__"', 1)[0].split("\n", 1)[1].strip()


def linguacodus_loop(executor: Executor, ctx: TaskContext, plan: Instruction, stages: dict[str, str],
                     inputs: dict[str, Path], sink: Sink, test_ids: pd.Series, log: StageLog,
                     seed: int, passed: dict[str, str] | None = None) -> ExecutionOutcome:
    """Run the integrated script; a failure regenerates just the failing stage (checked on a sample).

    `passed` are the stages whose check succeeded: a repaired stage is checked against those only
    (built-ins stand in for the others), so one broken stage cannot fail another's check."""
    passed = dict(stages) if passed is None else passed
    constants = ctx.harness_constants(seed)
    header = f"Solution for {ctx.competition.competition_id}, generated by linguacodus."
    fixes = {"n": 0}

    def repair(stage: str | None, script: str, error: str, reflection: str, reset: bool) -> bool:
        stage = stage or "train"  # a timeout / kill without a marker: the fit is the usual culprit
        fixes["n"] += 1
        previous = None if reset else stages[stage]
        accepted = {k: v for k, v in passed.items() if k != stage}
        code = executor.coder.generate_stage(ctx, plan, stage, accepted, inputs, log, previous=previous,
                                             error=None if reset else error,
                                             reflection=None if reset else reflection,
                                             first_try=executor.coder.config.stage_tries * fixes["n"])
        if code is None:
            return False
        stages[stage] = passed[stage] = code
        return True

    return executor.run(ctx, inputs, sink, test_ids, script_for=lambda: assemble(constants, stages, header),
                        repair=repair, log_prefix="linguacodus")
