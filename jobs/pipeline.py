"""One competition through the whole pipeline: facts -> instructor -> refiner -> staged coder ->
executor with fixes -> grader, with the floor when the LLM path produced nothing valid.

This is the only place the stages are composed. Whatever happens, `solve` returns a result row:
a failure of any stage becomes fields on the row, never an exception out of the batch.
"""
from __future__ import annotations

import json
import logging
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import pandas as pd

import storage
from actors.coder import Coder, StageLog
from actors.context import TaskContext
from actors.executor import ExecutionOutcome, Executor, linguacodus_loop
from actors.facts import compute_facts
from actors.grader import grade_submission
from actors.grading import read_leaderboard, read_table
from actors.instructor import Instructor
from actors.integrate import assemble, floor_stages
from actors.leaderboard import leaderboard_position
from actors.llm import LLM, RecordingLLM
from actors.refiner import Refiner
from actors.search_tune import validation_score
from actors.search import search_solution
from actors.task import Competition
from actors.vanilla import vanilla_loop
from jobs.config import RunConfig

logger = logging.getLogger(__name__)
# Files of a task folder the generated code must never see.
PRIVATE_NAMES = ("answers.csv", "leaderboard.csv")


class StorageSink:
    """Artifacts of one competition, written atomically under its results folder."""

    def __init__(self, root: str) -> None:
        self.root = root

    def text(self, path: str, content: str) -> None:
        storage.write_text(storage.join(self.root, path), content)

    def json(self, path: str, obj: Any) -> None:
        storage.write_json(storage.join(self.root, path), obj)


def stage_inputs(comp: Competition, dest: Path) -> dict[str, Path]:
    """The task's data files as local paths for read-only binding, private files left out."""
    private = {n for n in PRIVATE_NAMES}
    if comp.answers_uri:
        private.add(comp.answers_uri.rstrip("/").rsplit("/", 1)[-1])
    inputs: dict[str, Path] = {}
    local = storage.local_path(comp.data_uri)
    for uri in storage.list_uris(comp.data_uri):
        name = uri.rstrip("/").rsplit("/", 1)[-1]
        if name in private or name.startswith(".") or name in ("meta.json", "description.md"):
            continue
        if local is not None:
            inputs[name] = local / name
        else:
            target = dest / name
            if storage.is_dir(uri):
                storage.download_dir(uri, target)
            else:
                target.write_bytes(storage.read_bytes(uri))
            inputs[name] = target
    for required in ("train.csv", "test.csv"):
        if required not in inputs:
            raise FileNotFoundError(f"{comp.competition_id}: {required} not found in {comp.data_uri}")
    return inputs


def _validation_score(ctx: TaskContext, train: pd.DataFrame, workdir: Path) -> float | None:
    """Score the script's out-of-fold predictions ourselves (never trust the script's own print)."""
    comp = ctx.competition
    return validation_score(workdir / "val_predictions.csv", train[[comp.id_column, *comp.target]],
                            metric=comp.metric, id_column=comp.id_column, targets=list(comp.target),
                            classes=ctx.facts.classes or None)


def _grade(ctx: TaskContext, row: dict[str, Any], submission: Path) -> None:
    comp = ctx.competition
    if not comp.answers_uri:
        row.update(status="skipped", error="no answers_uri: submission written but not graded")
        return
    answers = read_table(comp.answers_uri)
    result = grade_submission(read_table(str(submission)), answers, metric=comp.metric, id_column=comp.id_column,
                              targets=list(comp.target), classes=ctx.facts.classes or None)
    row.update(score=result.score, valid_submission=result.valid,
               status="graded" if result.valid else "invalid_submission",
               error=None if result.valid else f"invalid submission: {result.reason}")
    if result.valid and comp.leaderboard_uri:
        placement = leaderboard_position(result.score, read_leaderboard(comp.leaderboard_uri), ctx.higher_is_better)
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
        train = pd.read_csv(inputs["train.csv"])
        test = pd.read_csv(inputs["test.csv"])
        ctx = TaskContext(comp, compute_facts(comp, train, test))
        details["facts"] = ctx.facts.to_dict()
        test_ids = test[comp.id_column]
        try:
            outcome = _llm_path(ctx, recorder, coder, executor, config, inputs, sink, test_ids, details)
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
            storage.write_bytes(storage.join(results_root, "submission.csv"),
                                (outcome.workdir / "submission.csv").read_bytes())
            row["validation_score"] = _validation_score(ctx, train, outcome.workdir)
            llm_error = row.get("error")
            _grade(ctx, row, outcome.workdir / "submission.csv")
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
    sink.text("llm_calls.jsonl", "".join(json.dumps(c, default=str) + "\n" for c in calls))
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
