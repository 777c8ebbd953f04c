"""The Ray Tune side of the search (SPEC step 5): Optuna TPE proposes programs, the sandbox runs them.

A trial is one `ProgramConfig` drawn from a `SearchSpace` by Optuna's define-by-run interface
(`suggest_config`), rendered to stage code with the plan renderers, assembled with the harness and
run in the sandbox exactly like any solution. Its score is the cross-validated score that *we*
compute from the script's out-of-fold predictions (val_predictions.csv) with the project's metric
functions, never the script's own print. Every trial of a task sees the same folds (same seed, K
and rows), so their out-of-fold predictions line up for the ensemble.

Why Optuna TPE (not BOHB): the space is conditional (each estimator has its own hyper-parameters)
and mixes categorical, integer and log-scaled choices; TPE handles that define-by-run with no
ConfigSpace, and takes warm-start points (`points_to_evaluate` -> `enqueue_trial`), which is how
the three ranked instructions become the first trials. Early stopping is ASHA on data-size rungs:
on a large train.csv every trial first runs on a sample (rung 1) and only the better half goes on
to the full cross-validation (rung 2); on a small one there is a single rung and no scheduler.
"""
from __future__ import annotations

import dataclasses
import functools
import json
import logging
import os
import shutil
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import pandas as pd

from actors.context import TaskContext, Validation
from actors.harness.integrate import assemble
from actors.sandbox.readback import MAX_TABLE_BYTES, ReadBackError, read_back
from actors.sandbox.sandbox import Sandbox, SandboxConfig
from actors.search.records import METRIC, started_record, told, trial_record
from actors.search.space import ProgramConfig, SearchSpace, render_config, suggest_config
from actors.search.timing import (CV_SECONDS, TIMING, RefitReserve, calibration, full_run_seconds, overrun_margin,
                                  reserved_seconds)
from actors.harness.diagnose import validation_score_of

logger = logging.getLogger(__name__)
# What TPE learns from: the full score, and for a trial without one (ASHA stopped it after the sample rung,
# or its full run could not end in the time left) its sample score pushed below every full score. A trial
# whose full run cannot end used to raise, and Tune tells Optuna an errored trial as FAIL, which TPE
# ignores: on nycflights13 (262,816 rows) 9 of 26 trials were extra-trees (they lead the 2,000-row sample,
# 0.70-0.71 against the default LightGBM's 0.687), 8 of them stopped with full runs predicted at 220-380 s
# and under 120 s left, while LightGBM won on all rows (0.775 on the holdout).
TPE_METRIC = "tpe_value"
NO_FULL_SCORE = 1e12
RAW_FILES = ("oof_raw.csv", "val_predictions.csv")


@dataclass(frozen=True)
class TrialSpec:
    """Everything a trial needs, shipped once to the object store by tune.with_parameters."""

    ctx: TaskContext
    space: SearchSpace
    constants: dict[str, Any]  # the harness's TASK dict (seed, folds)
    inputs: dict[str, str]  # sandbox inputs: name -> absolute local path (staged, allow-listed)
    truth: pd.DataFrame  # id column (as text) + targets of train.csv
    sandbox: SandboxConfig
    sample_rows: int | None  # rung 1 on this many rows; None: a single, full rung
    sample_folds: int
    scratch: str  # full-run outputs of each trial go to scratch/<trial_id>/ (for the ensemble)
    deadline: float  # time.time() after which no sandbox run may still be going

    def time_left(self) -> float:
        """Seconds a run starting now may take: up to the deadline less the final run's reserve (RefitReserve,
        which Tune's stopper cannot enforce on a running rung), at most the sandbox's timeout."""
        return min(self.sandbox.timeout_s, self.deadline - reserved_seconds(Path(self.scratch)) - time.time())


class TrialFailed(RuntimeError):
    """A trial's program failed at a rung; the message says where and why (it ends up in search.json)."""


class BudgetSpent(TrialFailed):
    """The search's time budget ran out while this trial was running (not the program's fault)."""


class FixedSuggest:
    """Replays a trial's drawn parameters through suggest_config (the trainable rebuilds its program)."""

    def __init__(self, params: dict[str, Any]) -> None:
        self.params = params

    def suggest_categorical(self, name: str, choices: Any) -> Any:
        return self.params[name]

    def suggest_int(self, name: str, low: int, high: int, *, log: bool = False) -> int:
        return int(self.params[name])

    def suggest_float(self, name: str, low: float, high: float, *, log: bool = False) -> float:
        return float(self.params[name])


def trial_script(spec: TrialSpec, config: ProgramConfig, header: str = "") -> str:
    return assemble(spec.constants, render_config(spec.ctx, config),
                    header or f"Search trial for {spec.ctx.competition.competition_id}, generated by linguacodus.")


class Rung(NamedTuple):
    score: float  # the out-of-fold score, by the project's metric
    seconds: float  # the sandbox's wall seconds
    peak_mb: float | None  # the sandbox's peak memory
    cv_seconds: float | None  # the seconds of its cross-validation as the harness timed them


def run_rung(spec: TrialSpec, script: str, rung: int, keep: Path | None) -> Rung:
    """One rung of a trial; TrialFailed when the program fails or cannot be scored.
    With `keep`, the full run's raw outputs are copied there (read back safely, never by path)."""
    from actors.harness.diagnose import stage_error

    # Trials need out-of-fold predictions only: the refit on all of train is the final run's job.
    args = ["--oof-only", *(["--sample", str(spec.sample_rows), "--folds", str(spec.sample_folds)] if rung == 1
                            else Validation(spec.constants["folds"], bool(spec.constants.get("holdout"))).args())]
    timeout = min(spec.sandbox.timeout_s, max(5.0, spec.time_left()))
    sandbox = Sandbox(spec.sandbox.model_copy(update={"timeout_s": timeout}))
    work = Path(tempfile.mkdtemp(prefix=f"lc-trial-r{rung}-"))
    try:
        (work / "solution.py").write_text(script)
        result = sandbox.run(work / "solution.py", work, {k: Path(v) for k, v in spec.inputs.items()}, args=args)
        if result.timed_out and timeout < spec.sandbox.timeout_s:
            raise BudgetSpent(f"out of budget: the search's time ran out during rung {rung}")
        if not result.ok:
            stage, error = stage_error(result, work, timeout)
            where = f" in stage {stage}" if stage else ""
            raise TrialFailed(f"rung {rung} ({'sample' if rung == 1 else 'full'} run) failed{where}: {error}")
        comp = spec.ctx.competition
        score = validation_score_of(work / "val_predictions.csv", spec.truth, metric=comp.metric,
                                 id_column=comp.id_column, targets=list(comp.target),
                                 classes=list(spec.ctx.facts.classes))
        if score is None:
            raise TrialFailed(f"rung {rung}: the out-of-fold predictions are missing or not gradable")
        if keep is not None:
            keep.mkdir(parents=True, exist_ok=True)
            for name in RAW_FILES:
                try:
                    (keep / name).write_bytes(read_back(work, name, MAX_TABLE_BYTES))
                except ReadBackError as exc:
                    raise TrialFailed(f"rung {rung}: {exc}") from exc
        timed = CV_SECONDS.findall(result.stdout)
        return Rung(score, result.duration_s, result.peak_memory_mb, float(timed[-1]) if timed else None)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def trainable(params: dict[str, Any], spec: TrialSpec) -> None:
    """Tune's function trainable: rebuild the program from its parameters, run its rungs, report each."""
    from ray import tune

    started = time.monotonic()
    started_at = time.time()
    if started_at > spec.deadline - 2:  # created as the budget ran out: never started, no record (run_tune)
        return
    config = suggest_config(spec.space, FixedSuggest(params))
    trial_id = tune.get_context().get_trial_id()
    # a trial Tune cuts at its time budget before the first report leaves no result: this marker
    # lets the record say it ran (run_tune), instead of the search showing no trial at all
    marker = Path(spec.scratch) / f"{trial_id}.started"
    marker.parent.mkdir(parents=True, exist_ok=True)
    marker.write_text(json.dumps({"started_at": started_at, "program": config.model_dump_json()}))
    script = trial_script(spec, config)
    rungs = (1, 2) if spec.sample_rows else (2,)
    seconds, peak, sample, sample_cv, need = 0.0, 0.0, None, None, None

    def report(score: float, rung: int, **extra: Any) -> None:
        unfinished = score - NO_FULL_SCORE if spec.ctx.higher_is_better else score + NO_FULL_SCORE
        tune.report({METRIC: score, TPE_METRIC: score if extra.get("full") else unfinished,
                     "rung": rung, "full": False, "sample_score": sample, **extra,
                     "program": config.model_dump_json(),
                     "started_at": started_at, "sandbox_seconds": round(seconds, 3), "sandbox_peak_mb": peak or None,
                     "worker_pid": os.getpid(), "trial_seconds": round(time.monotonic() - started, 3)})

    def budget_spent(why: str) -> None:
        """The search's deadline cut this trial: not the program's fault, so the trial ends instead of
        raising. Raised, its error stayed in a result that Tune, its budget spent, never fetched, and Ray
        logged it as an "Unhandled error" traceback in the job's log after every search. After its sample
        run it reports that score (a cut program can still be refit, select.sample_leader); before its
        first report the start marker records it (records.started_record)."""
        if sample is not None:
            report(sample, 1, out_of_budget=why, predicted_full_s=round(need, 1) if need else None)

    for rung in rungs:
        keep = Path(spec.scratch) / trial_id if rung == 2 else None
        if time.time() > spec.deadline - 2:
            return budget_spent(f"out of budget: the search's time ran out before rung {rung}")
        if rung == 2 and sample_cv is not None:  # a full run that cannot end would hold its CPUs for nothing
            shape = (spec.ctx.facts.n_train, spec.sample_rows or 0, spec.constants["folds"], spec.sample_folds,
                     bool(spec.constants.get("holdout")))
            need = full_run_seconds(seconds, sample_cv, *shape)
            ratio = calibration(Path(spec.scratch), config.estimator)
            expected, margin = (need * ratio, 1.0) if ratio is not None else (need, overrun_margin(*shape))
            left = spec.time_left()
            if expected > margin * left:
                # ended, not raised: an errored trial is a FAIL that TPE ignores, and it kept drawing the
                # programs that cannot finish; reported, it counts as one without a full score
                how = (f"x{ratio:.2g} as this search's {config.estimator} full runs took" if ratio is not None
                       else f"from the sample run's {seconds:.0f} s")
                what = "would not end in" if margin >= 1 else "would take over half of"
                report(sample, 1, predicted_full_s=round(expected, 1),
                       out_of_budget=f"out of budget: its full run (~{expected:.0f} s, {how}) {what} the "
                       f"{left:.0f} s it may still run")
                return
        try:
            ran = run_rung(spec, script, rung, keep)
        except BudgetSpent as exc:
            return budget_spent(str(exc))
        except TrialFailed as exc:
            raise type(exc)(f"{exc} [program {config.model_dump_json()}]") from None
        seconds += ran.seconds
        peak = max(peak, ran.peak_mb or 0.0)
        sample = ran.score if rung == 1 else sample  # every report keeps it: the shared rung of all trials
        sample_cv = ran.cv_seconds if rung == 1 else sample_cv
        if rung == 2 and need:  # what this estimator's full runs take against their prediction, for the next ones
            (Path(spec.scratch) / TIMING.format(trial_id=trial_id)).write_text(
                json.dumps({"estimator": config.estimator, "predicted": need, "actual": ran.seconds}))
        report(ran.score, rung, full=rung == 2, predicted_full_s=round(need, 1) if need else None,
               **({"full_seconds": round(ran.seconds, 3), "full_cv_seconds": ran.cv_seconds} if rung == 2 else {}))


def _stopper(reserve: RefitReserve) -> Any:
    """RefitReserve as a Tune Stopper (ray.tune is imported only where a search runs)."""
    from ray.tune.stopper import Stopper

    class _Reserve(Stopper):
        def __call__(self, trial_id: str, result: dict[str, Any]) -> bool:
            reserve.observe(trial_id, result)
            return False

        def stop_all(self) -> bool:
            return reserve.should_stop()

    return _Reserve()


class NoTrialStarted(RuntimeError):
    """Tune's budget ended before any trial started: the cluster never had a trial's CPUs free."""


@dataclass(frozen=True)
class TuneSettings:
    mode: str  # "max" | "min", from the metric's direction
    time_budget_s: float
    max_trials: int
    trial_cpus: float
    max_concurrent: int
    seed: int


def run_tune(spec: TrialSpec, settings: TuneSettings, warm: list[dict[str, Any]], name: str,
             known: dict[str, dict[str, Any]] | None = None) -> list[dict[str, Any]]:
    """Every trial as a record (trial_id, params, program, status, rung, scores, seconds, error), in
    the order Tune created them: the warm starts first, then TPE's proposals. `known`: full runs made
    before the search (the staged solution) as Tune results, for the final run's reserve."""
    import ray
    from ray import tune
    from ray.tune.schedulers import ASHAScheduler, FIFOScheduler
    from ray.tune.search.optuna import OptunaSearch

    import optuna

    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")  # no experiment tables in the job log (verbose=0)
    # A trial the search's deadline cuts before its first report returns without one (trainable): Tune's
    # strict metric check then failed the whole search ("did not include the specified metric(s)"), as the
    # result Tune makes of the return carries the config. Unchecked, TPE is told PRUNED, ASHA skips it.
    os.environ["TUNE_DISABLE_STRICT_METRIC_CHECKING"] = "1"
    optuna.logging.set_verbosity(optuna.logging.WARNING)  # not "A new study created" once per search
    started_ray = not ray.is_initialized()
    if started_ray:
        ray.init(include_dashboard=False, logging_level=logging.WARNING, log_to_driver=False,
                 **({} if os.environ.get("RAY_ADDRESS") else {"num_cpus": max(2, os.cpu_count() or 2)}))
    free_cpus = ray.available_resources().get("CPU", 0.0)  # for the message when no trial can start
    storage_dir = tempfile.mkdtemp(prefix="lc-tune-")  # Tune's own files: scratch, not artifacts
    try:
        # define-by-run (the conditional space, drawn by TPE); a partial of a module function pickles
        searcher = OptunaSearch(space=functools.partial(_define, spec.space), metric=TPE_METRIC, mode=settings.mode,
                                seed=settings.seed, points_to_evaluate=warm or None)
        scheduler = (ASHAScheduler(metric=METRIC, mode=settings.mode, time_attr="training_iteration", grace_period=1,
                                   max_t=2, reduction_factor=2) if spec.sample_rows else FIFOScheduler())
        spec = dataclasses.replace(spec, deadline=time.time() + settings.time_budget_s)  # from Tune's start
        reserve = RefitReserve(settings.mode, settings.time_budget_s, int(spec.constants["folds"]),
                               bool(spec.constants.get("holdout")), Path(spec.scratch))
        for label, result in (known or {}).items():
            reserve.observe(label, result)
        node = f"node:{ray.util.get_node_ip_address()}"  # the sandbox inputs are local paths on this node
        trainable_ = tune.with_resources(tune.with_parameters(_named(name), spec=spec),
                                         {"cpu": settings.trial_cpus, node: 0.001})
        tuner = tune.Tuner(
            trainable_,
            # no metric here: the searcher (TPE_METRIC) and the scheduler (METRIC) each have their own
            tune_config=tune.TuneConfig(search_alg=searcher, scheduler=scheduler,
                                        num_samples=settings.max_trials, max_concurrent_trials=settings.max_concurrent,
                                        # one trial actor serves trial after trial: a fresh one per trial (Tune's
                                        # default) spent ~4 s starting a Ray worker each time; measured on
                                        # cars-mpg at 60 s: 11 trials without reuse, 24 with it
                                        reuse_actors=True,
                                        time_budget_s=max(1.0, settings.time_budget_s)),
            run_config=tune.RunConfig(name=name, storage_path=storage_dir, verbose=0, stop=_stopper(reserve),
                                      failure_config=tune.FailureConfig(max_failures=0)))
        quiet = [logging.getLogger(n) for n in ("ray.tune", "ray.train")]
        levels = [q.level for q in quiet]
        for q in quiet:  # "Reached timeout", "Trials did not complete": the budget ending is not an error
            q.setLevel(logging.CRITICAL)
        try:
            grid = tuner.fit()
        finally:
            for q, level in zip(quiet, levels, strict=True):
                q.setLevel(level)
        # Trials Tune created after the budget ran out never started: not worth a record. One that
        # started and was cut before its first report is recorded as out of budget.
        told_tpe = told(searcher)
        records = [started_record(r, Path(spec.scratch)) for r in (trial_record(r) for r in grid)]
        records = [{**r, "tpe": told_tpe.get(r["trial_id"])} for r in records]
        records = [r for r in records if r["status"] != "not_run" and "before rung 1" not in (r["error"] or "")]
        if not records:
            raise NoTrialStarted(
                f"no trial started in the search's {settings.time_budget_s:.0f} s: a trial needs "
                f"{settings.trial_cpus:g} CPU and {free_cpus:.2f} of {ray.cluster_resources().get('CPU', 0.0):g} were "
                "free when it began (other searches' trials or the pipeline's actors held them)")
        return sorted(records, key=lambda t: (t["started_at"] is None, t["started_at"] or 0.0))
    finally:
        shutil.rmtree(storage_dir, ignore_errors=True)
        if started_ray:
            ray.shutdown()


def _named(name: str) -> Any:
    """The trainable under a name of its own: Tune registers trainables by name in the cluster, and two
    competitions searching at once under one name run each other's trials ("Should not have reached
    here" errors, measured with --concurrency 2)."""
    def run(params: dict[str, Any], spec: TrialSpec) -> None:
        trainable(params, spec)

    run.__name__ = run.__qualname__ = "trial_" + "".join(ch if ch.isalnum() else "_" for ch in name)[:60] + \
        "_" + uuid.uuid4().hex[:8]
    return run


def _define(space: SearchSpace, trial: Any) -> None:
    suggest_config(space, trial)
