"""One competition, from its catalog row to its results row. The only place the stages are composed.

`CompetitionSolver` is the callable class Ray Data maps over the catalog (one competition per row): it
builds every collaborator once, and `solve` reads top to bottom:

    facts -> instructions -> refinement -> stages -> execution / fix loop -> search (Ray Tune)
          -> (the floor, only if nothing valid came out) -> validation score -> grade -> row

The search (actors/search/step.py) starts from what the LLM path left: the three ranked instructions
are its first trials, the LLM proposes its space, the staged solution is the baseline it must beat on
the same folds. `--mode search` skips the LLM path (no model is loaded): the search alone.

Whatever happens, a competition gets a `CompetitionResult`: a failure of any stage becomes fields on
its row, never an exception out of the batch. Artifacts are written as they are made; the journal of
the competition is serialised once, at the end (result.json details, llm_calls.jsonl).
"""
from __future__ import annotations

import contextlib
import json
import logging
import os
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd

import storage
from actors.context import TaskContext, Validation
from actors.deadline import Deadline
from actors.executor import Execution, Executor
from actors.facts import compute_facts
from actors.fixloop import Runner
from actors.grading.leaderboard import LeaderboardError
from actors.grading.validation import read_predictions, validation_score
from actors.grading.verdict import NO_ANSWERS, Verdict, judge
from actors.harness.integrate import assemble, floor_stages
from actors.journal import Journal
from actors.llm.base import LLM, NoLLM
from actors.llm.build import build_llm
from actors.llm.recording import RecordingLLM
from actors.sandbox.cgroup import peak_rss_mb
from actors.sandbox.sandbox import Sandbox
from actors.search.step import run_step, summary
from actors.search.run import SearchRunConfig
from actors.stages.coder import Coder
from actors.stages.instruction import instruction_from
from actors.stages.instructor import Instructor
from actors.stages.refiner import Refiner
from actors.task import Competition
from jobs.config import RunConfig
from jobs.grade import read_answers, read_leaderboard
from jobs.inputs import stage_inputs
from jobs.llm_path import LLMPath, llm_path
from jobs.progress import Progress
from jobs.run_inputs import temp_root
from jobs.slots import TrialSlots
from storage.artifacts import CompetitionArtifacts
from storage.results import CompetitionResult

logger = logging.getLogger(__name__)


class CompetitionSolver:
    """Ray Data's callable: builds the LLM client, the stages, the sandboxes and the executor once."""

    def __init__(self, config_json: str, llm: LLM | None = None, board: Any = None,
                 slots: TrialSlots | None = None) -> None:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
        logging.getLogger("ray").setLevel(logging.WARNING)  # Ray's own INFO (Tune's "Reached timeout"), as in the driver
        self.config = config = RunConfig.model_validate_json(config_json)
        # The shared LLM actor (embedded model, loaded once per run) or this actor's own endpoint client;
        # every call is recorded, and drained once per competition into its journal.
        self.llm = RecordingLLM(llm if llm is not None else (NoLLM() if config.mode == "search" else build_llm(config.llm)))
        self.instructor = Instructor(self.llm, config.instructor)
        self.refiner = Refiner(self.llm, config.refiner)
        check_sandbox = Sandbox(config.sandbox.model_copy(update={"timeout_s": config.coder.check_timeout_s}))
        self.coder = Coder(self.llm, check_sandbox, config.coder)
        self.sandbox = config.sandbox
        self.executor = Executor(Sandbox(config.sandbox), config.executor)
        self.layout = storage.RunLayout(config.out, config.run_id)
        self.progress = Progress(board)  # each step reported to the driver's view (jobs/progress.py)
        self.slots = slots  # the run's free trial slots, shared by the competitions searching at once
        # Temp dirs of every stage (sandbox work dirs, staged inputs) go below the run's scratch root,
        # which the next run of this id clears: a killed run leaves nothing behind for good.
        self.scratch = temp_root(config.out, config.run_id) / uuid.uuid4().hex[:12]
        self.sandbox_peak_mb = 0.0  # the largest sandboxed program so far (run.json resources)

    def __call__(self, batch: dict[str, Any]) -> dict[str, list[Any]]:
        out: dict[str, list[Any]] = {"competition_id": [], "status": [], "score": [], "unwritten_row": [],
                                     "pid": [], "peak_rss_mb": [], "sandbox_peak_mb": []}
        for raw in batch["competition"]:
            comp = Competition.model_validate_json(str(raw))
            result, unwritten = self.solve_one(comp)
            out["competition_id"].append(comp.competition_id)
            out["status"].append(result.status)
            out["score"].append(json.dumps(result.score))
            out["unwritten_row"].append(json.dumps(unwritten, default=str) if unwritten else "")
            out["pid"].append(os.getpid())  # this actor's peak memory so far, for run.json
            out["peak_rss_mb"].append(peak_rss_mb())
            out["sandbox_peak_mb"].append(self.sandbox_peak_mb)
        return out

    def solve_one(self, comp: Competition) -> tuple[CompetitionResult, dict[str, Any] | None]:
        """The competition's result, and its result.json when that could not be written (for the driver
        to try again). Never raises: Ray Data would end the whole batch on an exception out of the UDF."""
        cid = comp.competition_id
        artifacts = CompetitionArtifacts(self.layout.competition(cid))
        logger.info("%s start (%s mode, model %s)", cid, self.config.mode, self.llm.name)
        try:
            with _temp_dirs_under(self.scratch):
                result, details = solve(comp, self, artifacts)
            self.sandbox_peak_mb = max(self.sandbox_peak_mb, details.get("sandbox_peak_mb") or 0.0)
        except Exception as exc:  # noqa: BLE001 - solve() rows every failure it knows; this is the backstop
            logger.exception("%s: unexpected failure", cid)
            result, details = _failed(comp, self, f"{type(exc).__name__}: {exc}"), {}
        record = result.to_json(details)
        try:
            artifacts.result(record)  # last: its presence marks the competition complete
        except storage.StorageError as exc:  # the store stayed down longer than the retry window
            logger.error("%s: result.json not written (the driver will try again): %s", cid, exc)
            failed = result.replace(status="failed", error=f"storage: result.json not written: {exc}")
            self.progress.finished(cid, failed.status, None)
            return failed, failed.to_json(details)
        # result.json's `attempts` counts sandbox executions (attempts/NN: the staged run, fixes, the final
        # run), not the fix loop's attempts its own log lines number: named for what it counts here
        logger.info("%s done: status=%s score=%s fallback=%s sandbox_runs=%s", cid, result.status, result.score,
                    result.fallback_used, result.attempts)
        self.progress.finished(cid, result.status, result.score)
        return result, None


def solve(comp: Competition, s: CompetitionSolver, artifacts: CompetitionArtifacts,
          ) -> tuple[CompetitionResult, dict[str, Any]]:
    """The result row of one competition (SPEC results.parquet) and its details for result.json."""
    started = time.monotonic()
    journal = Journal()
    s.llm.drain()  # calls left by a competition that ended abnormally are not this one's
    details: dict[str, Any] = {}
    result = _failed(comp, s, None)
    try:
        with tempfile.TemporaryDirectory(prefix=f"lc-{comp.competition_id}-") as tmp:
            result = _solve(comp, s, artifacts, journal, Path(tmp), details, result, started)
    except Exception as exc:  # noqa: BLE001 - bad data, the store down, answers unreadable: a failed row
        logger.exception("%s failed", comp.competition_id)
        result = result.replace(status="failed", error=f"{type(exc).__name__}: {exc}")
    for call in s.llm.drain():
        journal.add("llm_call", call)
    calls = journal.llm_calls()
    result = result.replace(
        attempts=journal.executions, seconds_exec=journal.seconds_exec,
        prompt_tokens=sum(int(c.get("prompt_tokens") or 0) for c in calls),
        completion_tokens=sum(int(c.get("completion_tokens") or 0) for c in calls),
        seconds_llm=round(sum(float(c.get("seconds") or 0) for c in calls), 3),
        seconds_total=round(time.monotonic() - started, 3))
    try:
        artifacts.llm_calls(calls)
    except storage.StorageError as exc:  # after the retry window: this competition's row, not the batch's end
        logger.error("%s: llm_calls.jsonl not written: %s", comp.competition_id, exc)
        earlier = result.error if result.status == "failed" else None
        result = result.replace(status="failed", error="; ".join(
            filter(None, (earlier, f"storage: llm_calls.jsonl not written: {exc}"))))
    runs = journal.details()
    # the memory high-water mark of this competition's sandboxed programs: full runs and search trials
    peaks = [a.get("peak_memory_mb") or 0 for a in runs["attempts"]] + [(details.get("search") or {}).get("sandbox_peak_mb") or 0]
    return result, {**details, **runs, "sandbox_peak_mb": max(peaks) or None}


def _solve(comp: Competition, s: CompetitionSolver, artifacts: CompetitionArtifacts, journal: Journal, tmp: Path,
           details: dict[str, Any], result: CompetitionResult, started: float) -> CompetitionResult:
    s.progress.step(comp.competition_id, "facts")
    inputs = stage_inputs(comp, tmp)  # the allow-listed data, the only files generated code sees
    ids_as_text = {comp.id_column: str}  # "007" and "7" are two ids everywhere (catalog, grader, harness)
    train = pd.read_csv(inputs["train.csv"], dtype=ids_as_text)
    test = pd.read_csv(inputs["test.csv"], dtype=ids_as_text)
    ctx = TaskContext(comp, compute_facts(comp, train, test))  # 1. facts
    details["facts"] = ctx.facts.to_dict()
    config = s.config
    searching = config.search.enabled and config.mode != "vanilla"
    # fewer folds, then a holdout, on large data
    validation = config.search.validation_for(ctx.facts.n_train, len(ctx.facts.columns))
    # every full run of the staged solution is validated as the search's trials: one baseline for both
    runner = Runner(s.executor, artifacts, journal, ctx, inputs, test[comp.id_column],
                    args=validation.args() if searching else ())
    path = LLMPath()
    # with the search on, the LLM path gets its share of the budget and the search the rest
    share = config.search.budget_s * config.search.llm_share
    deadline = Deadline(started + share, share) if searching else None
    if config.mode != "search":
        try:
            path = llm_path(ctx, s, runner, deadline)  # 2.-5.
        except storage.StorageError:
            raise  # the store is down or refuses: the floor could not save its artifacts either
        except Exception as exc:  # noqa: BLE001 - an LLM or stage failure: recorded, then the search or the floor
            logger.warning("%s LLM path failed: %s", comp.competition_id, exc)
            path = LLMPath(error=f"LLM path: {type(exc).__name__}: {exc}")
        if deadline is not None:  # the row's error shows it only when the LLM path's solution is not graded
            details["llm_path"] = {"budget_share_s": round(share, 1), "error": path.error}
    elif given := (config.instructions or {}).get(comp.competition_id):  # --instructions: the search's first trials
        path = LLMPath(instructions=[instruction_from(d, rank) for rank, d in enumerate(given, 1)])
        artifacts.instructions({"candidates": [i.to_dict() for i in path.instructions], "source": "given"})
    solution, source, known_score = path.execution, "staged", None
    if searching:  # 6. the search; never worse than the staged solution on the same folds
        s.progress.step(comp.competition_id, "search")
        staged_score = _validation(ctx, train, solution)[0] if solution is not None else None
        # the space proposal is an LLM call too: once the LLM's share is spent, the facts' default space
        proposer = (None if config.mode == "search" or path.out_of_share or (deadline is not None and deadline.passed())
                    else s.llm)
        step = run_step(ctx, llm=proposer, instructions=path.instructions,
                        staged=solution, staged_stages=path.stages, staged_score=staged_score, runner=runner,
                        sandbox=s.sandbox, truth=train[[comp.id_column, *comp.target]],
                        config=_search_config(s, comp.competition_id, validation), seed=config.seed,
                        deadline=started + config.search.budget_s, scratch=tmp / "search",
                        parent=path.parent)
        artifacts.search(step.record)
        details["search"] = summary(step)
        result = result.replace(trials=step.trials, seconds_search=step.seconds)
        if step.execution is not None and step.execution.ok:
            solution, source = step.execution, step.source
            known_score = step.validation_score  # the winner's OOF score, or staged_score: not scored twice
    llm_error = path.error
    if solution is None:
        llm_error = llm_error or "search mode: the search produced no solution"
        s.progress.step(comp.competition_id, "floor")
        solution, source = _floor(ctx, runner, config.seed), "floor"  # 7. the floor
        result = result.replace(fallback_used=True, error=llm_error)
        if isinstance(solution, str):
            return result.replace(error=f"{llm_error}; {solution}", solution_source=None)
    result = result.replace(solution_source=source)
    artifacts.solution(solution.script, solution.submission or b"")
    s.progress.step(comp.competition_id, "grade")
    # 8. the validation score, computed by us (the search's winner was scored on its folds already)
    score, note = (known_score, None) if known_score is not None else _validation(ctx, train, solution)
    verdict = _grade(ctx, solution.submission or b"")  # 9. the grade and the leaderboard place
    # a graded floor row keeps why the LLM path failed; so does a row the search rescued
    error = llm_error if (result.fallback_used or source == "search") and verdict.status == "graded" else verdict.error
    return result.replace(status=verdict.status, score=verdict.score, valid_submission=verdict.valid_submission,
                          error=error, leaderboard_percentile=verdict.leaderboard_percentile, medal=verdict.medal,
                          leaderboard_note=verdict.leaderboard_note, validation_score=score, validation_note=note)


def _search_config(s: CompetitionSolver, cid: str, validation: Validation | None = None) -> SearchRunConfig:
    """The search's settings for this competition: its validation, and its trials at once taken now (the
    run's free trial slots shared by the competitions that can search beside it, jobs/slots.py)."""
    search = s.config.search
    if validation is not None:
        search = search.model_copy(update={"folds": validation.folds,
                                           "validation": "holdout" if validation.holdout else "cv"})
    if s.slots is None:  # a solver called directly (tests, tools): the configured value
        return search
    at_once = s.slots.at_once(s.progress.unfinished(default=s.slots.solvers))
    logger.info("%s: %d trial(s) at once (%d free trial slot(s), %d solver(s))", cid, at_once, s.slots.free,
                s.slots.solvers)
    return search.model_copy(update={"max_concurrent": at_once})


def _floor(ctx: TaskContext, runner: Runner, seed: int) -> Execution | str:
    """The robust built-in baseline, only when every LLM attempt failed; never counts as an LLM success."""
    header = f"Floor (built-in baseline) for {ctx.competition.competition_id}: every LLM attempt failed."
    execution, _ = runner.run(assemble(ctx.harness_constants(seed), floor_stages(), header))
    logger.info("%s floor: %s", ctx.competition.competition_id, "ok" if execution.ok else execution.error)
    return execution if execution.ok else f"floor failed: {execution.error}"


def _validation(ctx: TaskContext, train: pd.DataFrame, solution: Execution) -> tuple[float | None, str | None]:
    """The score of the script's out-of-fold predictions (never the script's own print), or why there is
    none. It only informs: without it the row is graded as usual."""
    comp = ctx.competition
    try:
        score = validation_score(read_predictions(solution.val_predictions, comp.id_column),
                                 train[[comp.id_column, *comp.target]], metric=comp.metric,
                                 id_column=comp.id_column, targets=list(comp.target),
                                 classes=ctx.facts.classes or None)
    except Exception as exc:  # noqa: BLE001 - e.g. a hold-out the metric is undefined on (one class)
        score, note = None, f"{type(exc).__name__}: {exc}"
    else:
        note = None if score is not None else "val_predictions.csv missing or not gradable (e.g. a non-finite score)"
    if note:
        logger.info("%s: no validation score: %s", comp.competition_id, note)
    return score, note


def _grade(ctx: TaskContext, submission: bytes) -> Verdict:
    """Read the private answers and the leaderboard (URIs: the job layer's), then grade (pure)."""
    comp = ctx.competition
    if not comp.answers_uri:
        return NO_ANSWERS
    answers = read_answers(comp.answers_uri, comp.id_column)  # ids as text, like the catalog checks
    board, board_error = None, None
    if comp.leaderboard_uri:
        try:
            board = read_leaderboard(comp.leaderboard_uri)
        except LeaderboardError as exc:  # a bad board costs the placement, never the grade
            board_error = str(exc)
    verdict = judge(submission, answers, metric=comp.metric, id_column=comp.id_column, targets=list(comp.target),
                    classes=ctx.facts.classes or None, higher_is_better=ctx.higher_is_better, board=board,
                    board_error=board_error)
    if verdict.leaderboard_note:
        logger.warning("%s: no leaderboard placement: %s", comp.competition_id, verdict.leaderboard_note)
    return verdict


def _failed(comp: Competition, s: CompetitionSolver, error: str | None) -> CompetitionResult:
    return CompetitionResult(run_id=s.config.run_id, competition_id=comp.competition_id, status="failed",
                             metric=comp.metric, higher_is_better=comp.higher_is_better, valid_submission=False,
                             fallback_used=False, attempts=0, mode=s.config.mode, model=s.llm.name,
                             seconds_exec=0.0, error=error)


@contextlib.contextmanager
def _temp_dirs_under(folder: Path) -> Iterator[None]:
    """tempfile's default folder is `folder` for the duration (the stages call tempfile.mkdtemp)."""
    folder.mkdir(parents=True, exist_ok=True)
    before, tempfile.tempdir = tempfile.tempdir, str(folder)
    try:
        yield
    finally:
        tempfile.tempdir = before
