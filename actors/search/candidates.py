"""Stage 5, search (Text-to-ML): alternative stage candidates, selected on a validation score by Ray Tune.

Once the staged path has a working solution, the coder writes N more candidates of the searched
stages (model first) with other seeds and temperatures, each checked on a sample like any stage.
Every combination with at least one candidate becomes a Tune trial (actors/search/tune.py: a
sample rung, then a full rung, ASHA in between). The best full validation score wins if it beats
the original solution's; the winner then goes through the executor's normal run (the fix loop's
Runner), and the pipeline grades it as usual. Any failure leaves the original solution in place: the search can only make a
competition better on validation, never worse.
"""
from __future__ import annotations

import itertools
import logging
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

import pandas as pd
from pydantic import BaseModel, Field

from actors.context import TaskContext
from actors.executor import Execution
from actors.fixloop import Runner
from actors.grading.validation import read_predictions, validation_score
from actors.harness.integrate import assemble
from actors.journal import Journal
from actors.search.tune import TrialSpec, TuneSettings, run_tune
from actors.stages.coder import Coder
from actors.stages.instruction import Instruction

logger = logging.getLogger(__name__)
# Candidate k of a stage samples with seed base + STRIDE * (k + 1): far from the seeds of the
# original tries and fix rounds (base + try index), so no candidate repeats an earlier request.
SEED_STRIDE = 1000


class SearchConfig(BaseModel):
    candidates: int = Field(0, ge=0, description="Alternative candidates per searched stage; 0 turns the search off.")
    stages: list[Literal["preprocess", "model", "train", "predict"]] = Field(
        ["model"], description="Stages that get candidates; the trials are all their combinations.")
    temperatures: list[float] = Field([0.8, 1.0], min_length=1,
                                      description="Sampling temperature of candidate k (the list repeats).")
    candidate_tries: int = Field(1, ge=1, description="Checked generations per candidate before it is dropped.")
    sample: int = Field(500, ge=20, description="Rows of train/test in rung 1 (the sample run of every trial).")
    trial_cpus: float = Field(0.5, gt=0, description="Logical CPUs of one trial (fractional: cores are shared).")
    max_concurrent: int = Field(2, ge=1, description="Trials running at once.")
    time_budget_s: float = Field(1800.0, gt=0, description="Wall-clock budget of the Tune run; later trials stop.")


@dataclass(frozen=True)
class Candidate:
    label: str  # e.g. "model-2"
    stage: str
    seed: int
    temperature: float
    code: str | None
    ok: bool
    error: str | None
    seconds: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def generate_candidates(coder: Coder, ctx: TaskContext, plan: Instruction, stages: dict[str, str],
                        inputs: dict[str, Path], config: SearchConfig) -> list[Candidate]:
    """N checked candidates per searched stage; duplicates of the original or of each other are dropped."""
    out: list[Candidate] = []
    for stage in config.stages:
        seen = {stages[stage].strip(): "the original"}
        accepted = {s: c for s, c in stages.items() if s != stage}
        for k in range(config.candidates):
            seed = coder.config.seed + SEED_STRIDE * (k + 1)
            temperature = config.temperatures[k % len(config.temperatures)]
            cfg = coder.config.model_copy(update={"seed": seed, "temperatures": [temperature],
                                                  "stage_tries": config.candidate_tries})
            tries = Journal()  # a candidate's tries are not the competition's stage log
            t0 = time.monotonic()
            code = Coder(coder.llm, coder.sandbox, cfg).generate_stage(ctx, plan, stage, accepted, inputs, tries)
            label = f"{stage}-{k + 1}"
            last = tries.last("stage")
            error = None if code is not None else (last.record.error if last else "no code")
            if code is not None and code.strip() in seen:
                code, error = None, f"duplicate of {seen[code.strip()]}"
            if code is not None:
                seen[code.strip()] = label
            out.append(Candidate(label, stage, seed, temperature, code, code is not None, error,
                                 round(time.monotonic() - t0, 3)))
            logger.info("%s search: candidate %s %s", ctx.competition.competition_id, label,
                        "passed its check" if code else f"dropped: {error}")
    return out


def combinations(config: SearchConfig, candidates: list[Candidate]) -> list[tuple[Candidate, ...]]:
    """Every combination of the searched stages' options with at least one candidate in it."""
    options = [[None, *[c for c in candidates if c.ok and c.stage == s]] for s in config.stages]
    combos = [tuple(c for c in combo if c is not None) for combo in itertools.product(*options)]
    return [c for c in combos if c]


def better(score: float | None, than: float | None, higher_is_better: bool) -> bool:
    """Strictly better; an unknown score is never better, and nothing beats an unknown original."""
    if score is None or than is None:
        return False
    return score > than if higher_is_better else score < than


def search_solution(coder: Coder, runner: Runner, plan: Instruction, stages: dict[str, str], original: Execution,
                    original_id: int, config: SearchConfig, seed: int) -> tuple[Execution, int, dict[str, Any]]:
    """The execution to grade (the winner's, or `original` unchanged), its journal id, and a summary for
    result details.

    Never raises: a failure is logged, recorded in search.json, and the original execution stands."""
    ctx, inputs = runner.ctx, runner.inputs
    cid = ctx.competition.competition_id
    started = time.monotonic()
    record: dict[str, Any] = {"config": config.model_dump(), "metric": ctx.competition.metric,
                              "higher_is_better": ctx.higher_is_better, "candidates": [], "combinations": [],
                              "trials": [], "winner": "original", "winner_score": None, "error": None}
    best, best_id = original, original_id
    try:
        cid_col = ctx.competition.id_column
        truth = pd.read_csv(inputs["train.csv"], dtype={cid_col: str})[[cid_col, *ctx.competition.target]]
        record["original_score"] = record["winner_score"] = _score(ctx, truth, original.val_predictions)
        candidates = generate_candidates(coder, ctx, plan, stages, inputs, config)
        record["candidates"] = [c.to_dict() for c in candidates]
        combos = combinations(config, candidates)
        record["combinations"] = ["+".join(c.label for c in combo) for combo in combos]
        if combos:
            best, best_id = _tune_and_apply(runner, stages, original, original_id, config, seed, truth, combos, record)
        else:
            logger.info("%s search: no candidate passed its check, the original solution stands", cid)
    except Exception as exc:  # noqa: BLE001 - the search must never cost a competition its solution
        logger.warning("%s search failed, the original solution stands: %s: %s", cid, type(exc).__name__, exc)
        record["error"] = f"{type(exc).__name__}: {exc}"
    record["seconds"] = round(time.monotonic() - started, 3)
    try:
        runner.artifacts.search(record)
    except Exception as exc:  # noqa: BLE001 - a lost record must not lose the solution either
        logger.warning("%s search: search.json not written: %s", cid, exc)
    return best, best_id, summary(record)


def _tune_and_apply(runner: Runner, stages: dict[str, str], original: Execution, original_id: int,
                    config: SearchConfig, seed: int, truth: pd.DataFrame, combos: list[tuple[Candidate, ...]],
                    record: dict[str, Any]) -> tuple[Execution, int]:
    ctx = runner.ctx
    comp = ctx.competition
    constants = ctx.harness_constants(seed)
    scripts = [assemble(constants, {**stages, **{c.stage: c.code for c in combo}},  # type: ignore[misc]
                        f"Solution for {comp.competition_id}, generated by linguacodus "
                        f"(search winner {'+'.join(c.label for c in combo)}).") for combo in combos]
    spec = TrialSpec(scripts=scripts, inputs={k: str(Path(v).resolve()) for k, v in runner.inputs.items()},
                     truth=truth, metric=comp.metric, id_column=comp.id_column, targets=list(comp.target),
                     classes=list(ctx.facts.classes), sandbox=runner.executor.sandbox.config, sample=config.sample)
    settings = TuneSettings(config.trial_cpus, config.max_concurrent, config.time_budget_s,
                            "max" if ctx.higher_is_better else "min")
    t0 = time.monotonic()
    trials = run_tune(spec, settings, name=f"search-{comp.competition_id}")
    record["tune_seconds"] = round(time.monotonic() - t0, 3)
    record["budget_exhausted"] = record["tune_seconds"] >= config.time_budget_s
    trial_ids = []
    for t in trials:
        t["config"] = {c.stage: c.label for c in combos[t["combo"]]}
        trial_ids.append(runner.journal.add("trial", t, original_id))
    record["trials"] = trials
    logger.info("%s search: %d trials in %.1f s: %s", comp.competition_id, len(trials), record["tune_seconds"],
                ", ".join(f"{'+'.join(t['config'].values())} {t['status']} {t['full_score'] or t['sample_score']}"
                          for t in trials))
    done = [(t, i) for t, i in zip(trials, trial_ids, strict=True) if t["status"] == "completed"]
    if not done:
        return original, original_id
    pick, pick_id = (max if ctx.higher_is_better else min)(done, key=lambda ti: ti[0]["full_score"])
    if not better(pick["full_score"], record["original_score"], ctx.higher_is_better):
        return original, original_id
    final, final_id = runner.run(scripts[pick["combo"]], parent=pick_id)  # an attempt like any other
    record["final_run"] = {"attempt": final.number, "ok": final.ok, "error": final.error,
                           "seconds": round(final.duration_s, 3),
                           "validation_score": _score(ctx, truth, final.val_predictions)}
    if not final.ok:
        logger.warning("%s search: the winner failed its final run, the original stands: %s",
                       comp.competition_id, final.error)
        return original, original_id
    for candidate in combos[pick["combo"]]:
        runner.artifacts.stage(candidate.stage, candidate.code or "")
    record["winner"] = "+".join(pick["config"].values())
    record["winner_score"] = pick["full_score"]
    return final, final_id


def _score(ctx: TaskContext, truth: pd.DataFrame, predictions: bytes | None) -> float | None:
    comp = ctx.competition
    return validation_score(read_predictions(predictions, comp.id_column), truth, metric=comp.metric,
                            id_column=comp.id_column, targets=list(comp.target), classes=list(ctx.facts.classes))


def summary(record: dict[str, Any]) -> dict[str, Any]:
    """The short form of search.json for result.json details."""
    trials = record.get("trials", [])
    count = {s: sum(1 for t in trials if t["status"] == s) for s in ("completed", "stopped", "failed", "not_run")}
    return {"candidates": len(record.get("candidates", [])),
            "candidates_ok": sum(1 for c in record.get("candidates", []) if c["ok"]),
            "trials": len(trials), **count, "winner": record.get("winner"),
            "original_score": record.get("original_score"), "winner_score": record.get("winner_score"),
            "seconds": record.get("seconds"), "tune_seconds": record.get("tune_seconds"), "error": record.get("error")}
