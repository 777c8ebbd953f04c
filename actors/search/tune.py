"""The Ray Tune side of the candidate search (SPEC item 5): one trial = one assembled script.

A trial runs its script in the sandbox twice, as two rungs: rung 1 on a sample
(`--check predict --sample N`), rung 2 on the full data. After each rung it reports the validation
score that *we* compute from the script's val_predictions.csv against train.csv (never the
script's own print). ASHA (grace_period 1, max_t 2, reduction_factor 2) stops the weaker half after
rung 1: BOHB-style early stopping without ConfigSpace/hpbandster, which would buy nothing here
because the space is a small grid of code candidates, not a continuous one.

`tune.report` blocks until Tune asks for the next result, so a trial that ASHA stops never starts
its full run. Trials are pinned to the caller's node: the sandbox inputs are local paths there.
"""
from __future__ import annotations

import logging
import os
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from actors.harness.diagnose import stage_error, validation_score_of
from actors.sandbox.sandbox import Sandbox, SandboxConfig

logger = logging.getLogger(__name__)
METRIC = "val_score"
# Two rungs: ASHA decides once, between the sample run and the full run.
GRACE_PERIOD, MAX_T, REDUCTION_FACTOR = 1, 2, 2


@dataclass(frozen=True)
class TrialSpec:
    """Everything a trial needs, shipped once to the object store by tune.with_parameters."""

    scripts: list[str]  # one integrated solution.py per combination; config["combo"] indexes it
    inputs: dict[str, str]  # sandbox inputs: name -> absolute local path
    truth: pd.DataFrame  # id column + targets of train.csv
    metric: str
    id_column: str
    targets: list[str]
    classes: list[str]
    sandbox: SandboxConfig
    sample: int


class CandidateFailed(RuntimeError):
    """A trial's script failed at a rung; args = (message, sandbox seconds spent)."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else "candidate failed"


def run_rung(spec: TrialSpec, script: str, rung: int) -> tuple[float, float]:
    """(validation score, sandbox seconds) of one rung; CandidateFailed when the script fails."""
    args = ["--check", "predict", "--sample", str(spec.sample)] if rung == 1 else []
    work = Path(tempfile.mkdtemp(prefix=f"lc-trial-r{rung}-"))
    try:
        (work / "solution.py").write_text(script)
        result = Sandbox(spec.sandbox).run(work / "solution.py", work, {k: Path(v) for k, v in spec.inputs.items()},
                                           args=args)
        if not result.ok:
            stage, error = stage_error(result, work, spec.sandbox.timeout_s)
            where = f" in stage {stage}" if stage else ""
            raise CandidateFailed(f"rung {rung} ({'sample' if rung == 1 else 'full'} run) failed{where}: {error}",
                                  result.duration_s)
        score = validation_score_of(work / "val_predictions.csv", spec.truth, metric=spec.metric,
                                 id_column=spec.id_column, targets=spec.targets, classes=spec.classes)
        if score is None:
            raise CandidateFailed(f"rung {rung}: val_predictions.csv missing or not gradable", result.duration_s)
        return score, result.duration_s
    finally:
        shutil.rmtree(work, ignore_errors=True)


def trial(config: dict[str, Any], spec: TrialSpec) -> None:
    """The function trainable: rung 1 (sample), then rung 2 (full) unless ASHA stopped the trial."""
    from ray import tune

    started = time.monotonic()
    script = spec.scripts[int(config["combo"])]
    sandbox_seconds = 0.0
    sample_score: float | None = None
    for rung in (1, 2):
        score, seconds = run_rung(spec, script, rung)
        sandbox_seconds += seconds
        sample_score = score if rung == 1 else sample_score
        tune.report({METRIC: score, "rung": rung, "sample_score": sample_score,
                     "sandbox_seconds": round(sandbox_seconds, 3),
                     "trial_seconds": round(time.monotonic() - started, 3)})


@dataclass(frozen=True)
class TuneSettings:
    trial_cpus: float
    max_concurrent: int
    time_budget_s: float
    mode: str  # "max" | "min", from the metric's direction


def run_tune(spec: TrialSpec, settings: TuneSettings, name: str) -> list[dict[str, Any]]:
    """One trial per script; a record per trial (combo, status, rung scores, error, seconds).

    Works inside a Ray worker (the pipeline actor: Tune joins the running cluster) and outside Ray
    (then a local Ray is started for the search and shut down after it)."""
    import ray
    from ray import tune
    from ray.tune.schedulers import ASHAScheduler

    started_ray = not ray.is_initialized()
    if started_ray:
        ray.init(include_dashboard=False, logging_level=logging.WARNING, log_to_driver=False,
                 **({} if os.environ.get("RAY_ADDRESS") else {"num_cpus": max(2, os.cpu_count() or 2)}))
    storage_dir = tempfile.mkdtemp(prefix="lc-tune-")  # Tune's own files: scratch, not artifacts
    try:
        node = f"node:{ray.util.get_node_ip_address()}"
        trainable = tune.with_resources(tune.with_parameters(trial, spec=spec),
                                        {"cpu": settings.trial_cpus, node: 0.001})
        scheduler = ASHAScheduler(time_attr="training_iteration", grace_period=GRACE_PERIOD, max_t=MAX_T,
                                  reduction_factor=REDUCTION_FACTOR)
        tuner = tune.Tuner(
            trainable, param_space={"combo": tune.grid_search(list(range(len(spec.scripts))))},
            tune_config=tune.TuneConfig(metric=METRIC, mode=settings.mode, scheduler=scheduler,
                                        max_concurrent_trials=settings.max_concurrent,
                                        time_budget_s=settings.time_budget_s),
            run_config=tune.RunConfig(name=name, storage_path=storage_dir, verbose=0,
                                      failure_config=tune.FailureConfig(max_failures=0)))
        grid = tuner.fit()
        return sorted((trial_record(r) for r in grid), key=lambda t: t["combo"])
    finally:
        shutil.rmtree(storage_dir, ignore_errors=True)
        if started_ray:
            ray.shutdown()


def trial_record(result: Any) -> dict[str, Any]:
    """A ray.tune.Result as a plain record; a trial with rung 1 only and no error was stopped."""
    metrics = result.metrics or {}
    rung = metrics.get("rung")
    error = getattr(result.error, "cause", None) or result.error
    status = ("failed" if error is not None else "completed" if rung == MAX_T
              else "stopped" if rung is not None else "not_run")
    seconds = metrics.get("trial_seconds")
    if isinstance(error, CandidateFailed) and len(error.args) > 1:
        seconds = round(float(metrics.get("sandbox_seconds") or 0) + float(error.args[1]), 3)
    return {
        "combo": int(result.config["combo"]), "status": status,
        "sample_score": metrics.get("sample_score"),
        "full_score": metrics.get(METRIC) if rung == MAX_T else None,
        "rungs_done": rung or 0, "error": str(error)[-2000:] if error is not None else None,
        "seconds": seconds, "sandbox_seconds": metrics.get("sandbox_seconds"),
    }
