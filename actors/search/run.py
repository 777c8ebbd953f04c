"""The search of one competition (Text-to-ML): a space, warm starts, Ray Tune, then the final choice.

1. The space comes from the LLM (`propose_space`: JSON under a grammar of this task's columns, the
   installed estimators and their valid ranges) or, with `space="default"`, from the data facts alone.
2. Warm starts are the first trials: the three ranked instructions read as programs
   (actors/grounding.py), then one mid-range point per candidate estimator; the space is widened so
   that every warm start lies inside it.
3. Ray Tune + Optuna TPE run trials until the time budget is spent (actors/tune_search.py).
4. The staged solution and every trial with full out-of-fold predictions are candidates for the
   final choice (actors/search_select.py): the best program, or a Caruana ensemble when it is better.
Every step is recorded for search.json; any failure leaves the staged solution in place.
"""
from __future__ import annotations

import json
import logging
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import pandas as pd
from pydantic import BaseModel, Field

from actors.context import TaskContext, Validation
from actors.sandbox.readback import MAX_TABLE_BYTES, ReadBackError, read_back_csv
from actors.sandbox.sandbox import SandboxConfig
from actors.stages.estimators import ESTIMATORS, family
from actors.search.proposal import default_ranges
from actors.search.select import Candidate, Choice, choose, sample_leader, sample_winner
from actors.search.space import (DENSE_SVD_COMPONENTS, EstimatorSpace, ParamRange, PreprocessConfig, ProgramConfig,
                                 SearchSpace, config_params, render_config)
from actors.search.timing import reserved_seconds
from actors.search.trials import NoTrialStarted, TrialSpec, TuneSettings, run_tune

logger = logging.getLogger(__name__)


class SearchRunConfig(BaseModel):
    enabled: bool = Field(True, description="Run the search after the staged solution (--search on|off).")
    budget_s: float = Field(300.0, gt=0, description="Wall-clock budget of one competition, LLM included; the "
                            "search gets what the earlier stages leave (at least min_search_s).")
    min_search_s: float = Field(30.0, ge=0, description="The search's time even when the budget is spent.")
    llm_share: float = Field(0.5, gt=0, le=1, description="The share of budget_s the LLM path (instructions, "
                             "refinement, stages, fix loop) may use before the search starts; the search gets the rest. "
                             "Checked between the path's steps: the instructions always stay (the first trials).")
    space: Literal["llm+default", "llm", "default"] = Field(
        "llm+default", description="Who proposes the search space: the LLM (under a grammar) with the data facts' "
        "default candidates after its own, the LLM alone, or the data facts alone.")
    folds: int = Field(5, ge=2, description="Cross-validation folds of every trial (the harness's --folds).")
    large_rows: int = Field(50_000, ge=1, description="Above this many training rows a task is cross-validated "
                            "on large_folds instead.")
    large_folds: int = Field(3, ge=2, description="Folds on large data: a full run fits (K-1) times the rows, and a "
                             "third of 50,000+ rows is plenty to validate on.")
    validation: Literal["auto", "cv", "holdout"] = Field(
        "auto", description="K-fold cross-validation, a holdout (the last of holdout_folds folds, one fit), or auto: "
        "a holdout where FLAML's rule picks one (rows >= holdout_rows, or rows x features / 0.9 >= holdout_cells per "
        "hour of budget_s) on at least holdout_min_rows rows, cross-validation otherwise.")
    holdout_rows: int = Field(100_000, ge=1, description="auto: a holdout from this many training rows on "
                              "(FLAML's CV_HOLDOUT_THRESHOLD).")
    holdout_cells: float = Field(10_000_000, gt=0, description="auto: a holdout when rows x features / 0.9 reach "
                                 "this many per hour of budget_s (FLAML's SMALL_LARGE_THRES rule).")
    holdout_min_rows: int = Field(20_000, ge=1, description="auto: never a holdout on fewer rows (its validation "
                                  "part, 1/holdout_folds of them, chooses the program and the ensemble).")
    holdout_folds: int = Field(10, ge=2, description="A holdout validates on 1/K of the rows (FLAML: 0.1).")
    sample_above: int = Field(5000, ge=100, description="Trials first run on a sample (rung 1) when train.csv "
                              "has more rows than this; ASHA stops the weaker half before the full run.")
    sample_rows: int = Field(2000, ge=100, description="Rows of the rung-1 sample.")
    sample_folds: int = Field(3, ge=2, description="Folds of the rung-1 sample run.")
    trial_cpus: float = Field(0.5, gt=0, description="Logical CPUs of one trial (fractional: cores are shared).")
    max_concurrent: int = Field(2, ge=1, description="Trials running at once (per competition).")
    max_trials: int = Field(500, ge=1, description="Upper bound on trials; the budget usually ends the search.")
    trial_timeout_s: float = Field(300.0, gt=0, description="Wall-clock limit of one trial's sandbox run.")
    ensemble_top: int = Field(5, ge=1, description="Best distinct programs offered to the ensemble selection.")
    ensemble_rounds: int = Field(25, ge=1, description="Caruana selection rounds (with replacement).")
    proposal_tokens: int = Field(700, ge=64, description="Completion budget of the LLM's search-space proposal.")

    def validation_for(self, n_train: int, n_features: int) -> Validation:
        """How a task with n_train rows of n_features columns is validated: the staged solution's full runs
        and every trial's. A full K-fold run fits (K-1) times the rows; a holdout fits (K-1)/K of them
        once, so on large data (where FLAML also switches) a search runs several times more programs."""
        holdout = self.validation == "holdout" or (
            self.validation == "auto" and n_train >= self.holdout_min_rows
            and (n_train >= self.holdout_rows
                 or n_train * max(1, n_features) / 0.9 >= self.holdout_cells * self.budget_s / 3600))
        if holdout:
            return Validation(self.holdout_folds, True)
        return Validation(self.large_folds if n_train > self.large_rows else self.folds, False)


DEFAULT_START = "default "  # the source of a default start: "default LGBMClassifier" (search.json trials)


@dataclass(frozen=True)
class WarmStart:
    source: str  # "instruction 1", "default LGBMClassifier", ...
    config: ProgramConfig


@dataclass(frozen=True)
class SearchOutcome:
    choice: Choice
    record: dict[str, Any]  # search.json
    trials: int
    seconds: float


def _mid(r: ParamRange) -> int | float:
    value = math.sqrt(r.low * r.high) if r.log and r.low > 0 else (r.low + r.high) / 2
    return int(round(value)) if r.kind == "int" else value


def _dense_key(p: PreprocessConfig) -> dict[str, Any]:
    return p.model_dump(exclude={"text": {"svd_components"}})


def split_repeats(warm: list[WarmStart]) -> tuple[list[WarmStart], list[WarmStart]]:
    """(the first start of each program shape: estimator, preprocessing, fit option; the later ones)."""
    seen: set[str] = set()
    distinct, repeats = [], []
    for w in warm:
        c = w.config
        key = json.dumps([c.estimator, _dense_key(c.preprocess), c.fit_option], sort_keys=True, default=str)
        (repeats if key in seen else distinct).append(w)
        seen.add(key)
    return distinct, repeats


def widen(ctx: TaskContext, space: SearchSpace, warm: list[WarmStart]) -> SearchSpace:
    """The space with every warm start inside it: its preprocessing variant, its estimator, its values."""
    variants = list(space.preprocess)
    estimators = {e.name: dict(e.params) for e in space.estimators}
    options = list(space.fit_options)
    table = ESTIMATORS[family(ctx.kind)]
    for w in warm:
        c = w.config
        if _dense_key(c.preprocess) not in [_dense_key(v) for v in variants]:
            variants.append(c.preprocess)
        ranges = estimators.setdefault(c.estimator, default_ranges(table[c.estimator]))
        for key, value in c.params.items():
            r = ranges.get(key) or default_ranges(table[c.estimator], [key]).get(key)
            if r is not None:
                ranges[key] = r.model_copy(update={"low": min(r.low, value), "high": max(r.high, value)})
        if c.fit_option not in options:
            options.append(c.fit_option)
    return SearchSpace(preprocess=variants, fit_options=options,
                       estimators=[EstimatorSpace(name=n, params=p) for n, p in estimators.items()])


def warm_point(space: SearchSpace, config: ProgramConfig) -> dict[str, Any]:
    """Optuna parameters of a warm start, every hyper-parameter of its estimator fixed (mid-range
    where the program leaves it open), so the first trials are exactly the programs meant."""
    point = config_params(space, config)
    est = next(e for e in space.estimators if e.name == config.estimator)
    for key, r in est.params.items():
        if r.low != r.high:
            point.setdefault(f"{config.estimator}.{key}", _mid(r))
    return point


def default_warm_starts(space: SearchSpace, ctx: TaskContext, limit: int = 4) -> list[WarmStart]:
    """One mid-range program per candidate estimator (the first variant): cheap, robust first trials."""
    out = []
    for est in space.estimators[:limit]:
        params = {k: _mid(r) for k, r in est.params.items()}
        config = ProgramConfig(preprocess=space.preprocess[0], estimator=est.name, params=params,
                               fit_option=space.fit_options[0])
        try:
            render_config(ctx, config)
        except Exception:  # noqa: BLE001 - e.g. a dense-only estimator with a sparse variant: TPE converts it
            text = config.preprocess.text.model_copy(update={"svd_components": DENSE_SVD_COMPONENTS})
            config = config.model_copy(update={"preprocess": config.preprocess.model_copy(update={"text": text})})
        out.append(WarmStart(f"{DEFAULT_START}{est.name}", config))
    return out


def candidates(trials: list[dict[str, Any]], scratch: Path, ctx: TaskContext) -> list[Candidate]:
    """Trials that finished the full cross-validation, with their out-of-fold predictions."""
    out = []
    id_col = ctx.competition.id_column
    for t in trials:
        if t["status"] != "completed" or t["cv_score"] is None or not t.get("program"):
            continue
        try:
            oof = read_back_csv(scratch / t["trial_id"], "oof_raw.csv", MAX_TABLE_BYTES, dtype={id_col: str})
            stages = render_config(ctx, ProgramConfig.model_validate(t["program"]))
        except (ReadBackError, ValueError) as exc:
            logger.info("%s search: trial %s not offered to the selection: %s", ctx.competition.competition_id,
                        t["trial_id"], exc)
            continue
        out.append(Candidate(f"trial {t['trial_id']}", stages, float(t["cv_score"]), oof,
                             float(t.get("sandbox_seconds") or 0)))
    return out


def unique_points(space: SearchSpace, warm: list[WarmStart]) -> tuple[list[dict[str, Any]], dict[str, str]]:
    """Each distinct warm-start point once, in order, and {point: source of its first start}: two
    instructions that render the same program cost one trial, labelled by the better-ranked one."""
    points: list[dict[str, Any]] = []
    sources: dict[str, str] = {}
    for w in warm:
        point = warm_point(space, w.config)
        key = json.dumps(point, sort_keys=True)
        if key not in sources:
            sources[key] = w.source
            points.append(point)
    return points, sources


def run_search(ctx: TaskContext, *, inputs: dict[str, Path], truth: pd.DataFrame, sandbox: SandboxConfig,
               config: SearchRunConfig, space: SearchSpace, space_source: str, warm: list[WarmStart],
               late: list[WarmStart] | None = None,
               baseline: Candidate | None, time_budget_s: float, seed: int, scratch: Path,
               sample_fallback: bool = False) -> SearchOutcome:
    """Tune over the space from the warm starts, then choose the final solution (never raises).
    With `sample_fallback` (nothing else to grade), a search whose trials all stopped before their full
    run still gives a solution: the best sample-run program (actors/search/select.py)."""
    cid = ctx.competition.competition_id
    started = time.monotonic()
    holdout = config.validation == "holdout"
    # grounded instructions first, then one point per default estimator, then the instructions that
    # name columns the task lacks: under a small budget the order decides what is tried at all. A start
    # that repeats an earlier one's program up to its hyper-parameters waits behind the distinct ones
    # (TPE tunes hyper-parameters anyway; a distinct estimator or preprocessing is information)
    distinct, repeats = split_repeats([*warm, *default_warm_starts(space, ctx)])
    warm = [*distinct, *repeats, *(late or [])]
    record: dict[str, Any] = {"metric": ctx.competition.metric, "higher_is_better": ctx.higher_is_better,
                              "space_source": space_source, "budget_s": round(time_budget_s, 1), "folds": config.folds,
                              "holdout": holdout,
                              "warm_starts": [{"source": w.source, "program": w.config.model_dump()} for w in warm],
                              "baseline": {"label": baseline.label, "score": baseline.score} if baseline else None,
                              "trials": [], "error": None}
    trials: list[dict[str, Any]] = []
    try:
        space = widen(ctx, space, warm)
        record["space"] = space.model_dump()
        points, sources = unique_points(space, warm)
        constants = ctx.harness_constants(seed, folds=config.folds, holdout=holdout)
        sample = config.sample_rows if ctx.facts.n_train > config.sample_above else None
        spec = TrialSpec(ctx=ctx, space=space, constants=constants,
                         inputs={k: str(Path(v).resolve()) for k, v in inputs.items()}, truth=truth,
                         sandbox=sandbox.model_copy(update={"timeout_s": min(sandbox.timeout_s, config.trial_timeout_s)}),
                         sample_rows=sample, sample_folds=config.sample_folds, scratch=str(scratch),
                         deadline=time.time() + time_budget_s)
        settings = TuneSettings("max" if ctx.higher_is_better else "min", time_budget_s, config.max_trials,
                                config.trial_cpus, config.max_concurrent, seed)
        record["max_concurrent"] = config.max_concurrent
        tune_started = time.monotonic()
        try:
            # the staged solution is a candidate too: its refit counts in the reserve if it ranks among the
            # best (an ensemble member refits; alone it is kept as it ran)
            known = ({"staged": {"full": True, "cv_score": baseline.score, "full_seconds": baseline.seconds}}
                     if baseline else None)
            trials = run_tune(spec, settings, points, name=f"search-{cid}", known=known)
        except NoTrialStarted as exc:  # the staged solution (or the floor) stands, and search.json says why
            logger.warning("%s: %s", cid, exc)
            record["error"] = str(exc)
        record["tune_seconds"] = round(time.monotonic() - tune_started, 3)  # the rest: choosing (reading OOF, ensemble)
        record["refit_reserve_s"] = round(reserved_seconds(scratch), 1)  # kept back for the final run (RefitReserve)
        for t in trials:
            t["source"] = sources.get(json.dumps(t["params"], sort_keys=True), "tpe")
        record["trials"] = trials
        pool = ([baseline] if baseline else []) + candidates(trials, scratch, ctx)
        choice = choose(ctx, pool, truth, constants, top=config.ensemble_top, rounds=config.ensemble_rounds)
        if choice.script is None and baseline is None and sample_fallback:
            choice = sample_winner(ctx, trials, constants) or choice
        else:
            choice = sample_leader(ctx, trials, choice, constants) or choice
    except Exception as exc:  # noqa: BLE001 - the search must never cost a competition its solution
        logger.warning("%s search failed, the staged solution stands: %s: %s", cid, type(exc).__name__, exc)
        record["error"] = f"{type(exc).__name__}: {exc}"
        choice = Choice("staged", baseline.score if baseline else None, (), None, {"decision": "search failed"})
    record["selection"] = choice.record
    record["winner"] = choice.winner
    record["winner_score"] = choice.score
    record["members"] = [{"label": label, "weight": w} for label, w in choice.members]
    record["seconds"] = round(time.monotonic() - started, 3)
    done = sum(1 for t in trials if t["status"] == "completed")
    logger.info("%s search: %d trials (%d full) in %.0f s, winner %s (%s)", cid, len(trials), done,
                record["seconds"], choice.winner, choice.score)
    return SearchOutcome(choice, record, len(trials), record["seconds"])
