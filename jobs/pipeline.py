"""One competition through the whole pipeline: facts -> instructor -> refiner -> staged coder ->
executor with fixes -> grader, with the floor when the LLM path produced nothing valid.

This is the only place the stages are composed. Whatever happens, `solve` returns a result row:
a failure of any stage becomes fields on the row, never an exception out of the batch.
"""
from __future__ import annotations

import io
import json
import logging
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import pandas as pd

import storage
from actors.stages.coder import Coder, StageLog
from actors.context import TaskContext
from actors.executor import ExecutionOutcome, Executor, linguacodus_loop
from actors.facts import compute_facts
from actors.grading.grader import GradeResult, grade_submission
from jobs.grade import read_answers, read_leaderboard
from actors.stages.instructor import Instructor
from actors.harness.integrate import assemble, floor_stages
from actors.grading.leaderboard import LeaderboardError, leaderboard_position
from actors.llm.base import LLM
from actors.llm.recording import RecordingLLM
from actors.sandbox.readback import MAX_TABLE_BYTES, read_back
from actors.stages.refiner import Refiner
from actors.search.tune import validation_score
from actors.search.candidates import search_solution
from actors.task import Competition
from actors.stages.vanilla import vanilla_loop
from jobs.config import RunConfig
from jobs.inputs import stage_inputs

logger = logging.getLogger(__name__)


class StorageSink:
    """Artifacts of one competition, written atomically under its results folder."""

    def __init__(self, root: str) -> None:
        self.root = root

    def text(self, path: str, content: str) -> None:
        storage.write_text(storage.join(self.root, path), content)

    def json(self, path: str, obj: Any) -> None:
        storage.write_json(storage.join(self.root, path), obj)


def _validation_score(ctx: TaskContext, train: pd.DataFrame, workdir: Path, row: dict[str, Any]) -> float | None:
    """Score the script's out-of-fold predictions ourselves (never trust the script's own print). The
    score only informs: when there is none, the row says why in validation_note and is graded as usual."""
    comp = ctx.competition
    try:
        score = validation_score(workdir / "val_predictions.csv", train[[comp.id_column, *comp.target]],
                                 metric=comp.metric, id_column=comp.id_column, targets=list(comp.target),
                                 classes=ctx.facts.classes or None)
    except Exception as exc:  # noqa: BLE001 - e.g. a hold-out the metric is undefined on (one class)
        score, note = None, f"{type(exc).__name__}: {exc}"
    else:
        note = None if score is not None else "val_predictions.csv missing or not gradable (e.g. a non-finite score)"
    if note:
        logger.info("%s: no validation score: %s", comp.competition_id, note)
        row["validation_note"] = note
    return score


def _grade(ctx: TaskContext, row: dict[str, Any], submission: bytes) -> None:
    comp = ctx.competition
    if not comp.answers_uri:
        row.update(status="skipped", error="no answers_uri: submission written but not graded")
        return
    answers = read_answers(comp.answers_uri, comp.id_column)  # ids as text, like the catalog checks
    # Parsed from the bytes read back (never reopened by path) with read_table's NA rules, ids as text.
    try:
        table = pd.read_csv(io.BytesIO(submission), keep_default_na=False, na_values=[""],
                            dtype={comp.id_column: str})
    except Exception as exc:  # noqa: BLE001 - an unreadable file is an invalid submission, never a crash
        table = GradeResult(score=None, valid=False, reason=f"cannot read submission.csv: {exc}")
    result = table if isinstance(table, GradeResult) else grade_submission(
        table, answers, metric=comp.metric, id_column=comp.id_column, targets=list(comp.target),
        classes=ctx.facts.classes or None)
    row.update(score=result.score, valid_submission=result.valid,
               status="graded" if result.valid else "invalid_submission",
               error=None if result.valid else f"invalid submission: {result.reason}")
    if result.valid and comp.leaderboard_uri:
        try:
            board = read_leaderboard(comp.leaderboard_uri)
            placement = leaderboard_position(result.score, board, ctx.higher_is_better)
        except LeaderboardError as exc:  # a bad board costs the placement, never the grade
            logger.warning("%s: no leaderboard placement: %s", comp.competition_id, exc)
            row["leaderboard_note"] = str(exc)
            return
        row.update(leaderboard_percentile=placement.percentile, medal=placement.medal)


def _llm_path(ctx: TaskContext, llm: LLM, coder: Coder, executor: Executor, config: RunConfig,
              inputs: dict[str, Path], sink: StorageSink, test_ids: pd.Series,
              details: dict[str, Any]) -> ExecutionOutcome:
    if config.mode == "vanilla":
        return vanilla_loop(executor, ctx, inputs, sink, test_ids)
    candidates = Instructor(llm, config.instructor).run(ctx)
    refinement = Refiner(llm, config.refiner).run(ctx, candidates)
    sink.json("instructions.json", refinement.to_dict())
    plan = refinement.refined
    log = StageLog()
    details["stage_log"] = log.attempts  # filled in place; serialised at the end
    stages: dict[str, str] = {}
    passed: dict[str, str] = {}  # checks build only on stages that passed; built-ins stand in for the rest
    for stage in coder.config.generated_stages():  # plan style: the harness predicts, no LLM predict stage
        code = coder.generate_stage(ctx, plan, stage, passed, inputs, log)
        if code is not None:
            passed[stage] = code
        # A stage that never passed its check is still integrated with its last try: the executor's
        # fix loop sees the full-data error and repairs it; the built-in stage is never substituted.
        last = next((a.code for a in reversed(log.attempts) if a.stage == stage and a.code), None)
        if code is None and last is None:
            return ExecutionOutcome(False, None, None, [], 0.0, f"stage {stage}: no usable code after "
                                    f"{coder.config.stage_tries} tries: {log.attempts[-1].error}")
        stages[stage] = code or last  # type: ignore[assignment]
        sink.text(f"stages/{stage}.py", stages[stage])
    outcome = linguacodus_loop(executor, ctx, plan, stages, inputs, sink, test_ids, log, config.seed, passed)
    if config.search.candidates > 0 and outcome.ok:  # Text-to-ML search; never worse than `outcome`
        outcome, details["search"] = search_solution(executor, ctx, plan, stages, outcome, inputs, sink, test_ids,
                                                     config.search, config.seed)
    return outcome


def solve(comp: Competition, llm: LLM, coder: Coder, executor: Executor, config: RunConfig,
          results_root: str) -> dict[str, Any]:
    """The result row for one competition (SPEC results.parquet), artifacts written under results_root."""
    started = time.monotonic()
    sink = StorageSink(results_root)
    recorder = RecordingLLM(llm)
    coder = Coder(recorder, coder.sandbox, coder.config)
    executor = Executor(executor.sandbox, coder, executor.config)
    row: dict[str, Any] = {
        "competition_id": comp.competition_id, "status": "failed", "metric": comp.metric,
        "higher_is_better": comp.higher_is_better, "valid_submission": False, "fallback_used": False,
        "attempts": 0, "mode": config.mode, "model": llm.name, "seconds_exec": 0.0,
    }
    details: dict[str, Any] = {}
    tmp = Path(tempfile.mkdtemp(prefix=f"lc-{comp.competition_id}-"))
    outcome: ExecutionOutcome | None = None
    try:
        inputs = stage_inputs(comp, tmp)
        ids_as_text = {comp.id_column: str}  # "007" and "7" are two ids everywhere (catalog, grader, harness)
        train = pd.read_csv(inputs["train.csv"], dtype=ids_as_text)
        test = pd.read_csv(inputs["test.csv"], dtype=ids_as_text)
        ctx = TaskContext(comp, compute_facts(comp, train, test))
        details["facts"] = ctx.facts.to_dict()
        test_ids = test[comp.id_column]
        try:
            outcome = _llm_path(ctx, recorder, coder, executor, config, inputs, sink, test_ids, details)
        except storage.StorageError:
            raise  # the store is down or refuses: the floor could not save its artifacts either
        except Exception as exc:  # noqa: BLE001 - LLM/stage failure: recorded, then the floor
            logger.warning("%s LLM path failed: %s", comp.competition_id, exc)
            row["error"] = f"LLM path: {type(exc).__name__}: {exc}"
        if outcome is not None:
            row["attempts"] = len(outcome.attempts)
            row["seconds_exec"] = outcome.seconds_exec
            details["attempts"] = [a.to_dict() for a in outcome.attempts]
            if not outcome.ok:
                row["error"] = f"LLM path: {outcome.error}"
        if outcome is None or not outcome.ok:
            outcome = _floor(ctx, executor, inputs, sink, test_ids, row, config)
        if outcome.ok and outcome.workdir is not None:
            sink.text("solution.py", outcome.script or "")
            submission = read_back(outcome.workdir, "submission.csv", MAX_TABLE_BYTES)
            storage.write_bytes(storage.join(results_root, "submission.csv"), submission)
            row["validation_score"] = _validation_score(ctx, train, outcome.workdir, row)
            llm_error = row.get("error")
            _grade(ctx, row, submission)
            if row["fallback_used"] and row["status"] == "graded":
                row["error"] = llm_error  # keep why the LLM path failed on a floor row
    except Exception as exc:
        logger.exception("%s failed", comp.competition_id)
        row["status"] = "failed"
        row["error"] = f"{type(exc).__name__}: {exc}"
    finally:
        if outcome is not None and outcome.workdir is not None:
            shutil.rmtree(outcome.workdir, ignore_errors=True)
        shutil.rmtree(tmp, ignore_errors=True)
    calls = recorder.drain()
    row["prompt_tokens"] = sum(int(c.get("prompt_tokens") or 0) for c in calls)
    row["completion_tokens"] = sum(int(c.get("completion_tokens") or 0) for c in calls)
    row["seconds_llm"] = round(sum(float(c.get("seconds") or 0) for c in calls), 3)
    row["seconds_total"] = round(time.monotonic() - started, 3)
    try:
        sink.text("llm_calls.jsonl", "".join(json.dumps(c, default=str) + "\n" for c in calls))
    except storage.StorageError as exc:  # after the retry window: this competition's row, not the batch's end
        logger.error("%s: llm_calls.jsonl not written: %s", comp.competition_id, exc)
        earlier = row.get("error") if row["status"] == "failed" else None
        row.update(status="failed", error="; ".join(filter(None, (earlier, f"storage: llm_calls.jsonl "
                                                                           f"not written: {exc}"))))
    details["stage_log"] = [
        {k: v for k, v in a.__dict__.items() if k != "code"} for a in details.get("stage_log", [])]
    return row | {"details": details}


def _floor(ctx: TaskContext, executor: Executor, inputs: dict[str, Path], sink: StorageSink,
           test_ids: pd.Series, row: dict[str, Any], config: RunConfig) -> ExecutionOutcome:
    """The robust built-in baseline; never counts as an LLM success."""
    header = f"Floor (built-in baseline) for {ctx.competition.competition_id}: every LLM attempt failed."
    script = assemble(ctx.harness_constants(config.seed), floor_stages(), header)
    number = int(row["attempts"]) + 1
    result, work, _, error = executor.execute(number, script, inputs, sink, ctx, test_ids)
    row["attempts"] = number
    row["fallback_used"] = True
    row["seconds_exec"] = float(row["seconds_exec"]) + result.duration_s
    logger.info("%s floor: %s", ctx.competition.competition_id, "ok" if error is None else error)
    if error is not None:
        shutil.rmtree(work, ignore_errors=True)
        return ExecutionOutcome(False, None, None, [], result.duration_s, f"floor failed: {error}")
    return ExecutionOutcome(True, script, work, [], result.duration_s, None)
