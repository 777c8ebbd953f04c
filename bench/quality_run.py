"""Run one contestant on one task of bench/quality.py, in its own process under a hard timeout, and
grade what it wrote with the project's grader (actors/grading.grade_competition: the submission
against answers.csv, and the leaderboard percentile where the task has leaderboard.csv).

Every pair ends as a PairResult saved to OUT/pairs/TASK/CONTESTANT/result.json, written last and
atomically, so a re-run skips finished pairs and a killed bench never leaves a half record.
"""
from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

import storage
from jobs.grade import grade_competition
from bench.quality_tasks import BenchTask

log = logging.getLogger(__name__)
CONTESTANTS_PY = Path(__file__).with_name("contestants.py")
STATUSES = ("graded", "invalid", "failed", "timeout")
# After SIGTERM, how long a contestant's process group gets to exit before SIGKILL.
KILL_GRACE_S = 10.0


@dataclass(frozen=True)
class PairResult:
    """One contestant on one task: the grader's score (None unless graded), the percentile where
    the task has a leaderboard, and the wall-clock seconds of the contestant's process."""

    task: str
    contestant: str
    metric: str
    higher_is_better: bool
    status: str  # graded | invalid (the grader rejected the file) | failed | timeout
    score: float | None
    percentile: float | None
    medal: str | None
    seconds: float
    budget_s: float
    reason: str | None = None
    details: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise ValueError(f"status {self.status!r} not in {STATUSES}")
        if (self.status == "graded") != (self.score is not None):
            raise ValueError("a score exactly when graded")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# Ablations of linguacodus (what each LLM step adds), run like the default with these extra flags:
# the search alone with no model, the LLM path alone with no search, and the search without the
# LLM's proposed space (the instructions still warm-start it).
LINGUACODUS_VARIANTS = {
    "linguacodus": (),
    "linguacodus-search-only": ("--mode", "search"),
    "linguacodus-no-search": ("--search", "off"),
    "linguacodus-facts-space": ("--search-space", "default"),
    "linguacodus-base-instructor": ("--instructor-adapter", "none"),  # the base model + few-shot, not the adapter
}


@dataclass(frozen=True)
class Runner:
    """How contestants are started: interpreters, the linguacodus CLI and the time limits."""

    budget_s: float
    out: Path
    python: dict[str, str]  # contestant -> interpreter (AutoGluon may live in its own venv)
    linguacodus_cli: str
    linguacodus_has_budget: bool
    hard_timeout_s: float  # AutoML and baselines: kill the whole process group after this
    linguacodus_timeout_s: float
    threads: int | None = None  # per contestant process; None leaves every library at its default

    def env(self) -> dict[str, str]:
        """The contestants' environment: on a host shared with other work, OpenMP with every core
        can be several times slower than one thread (threads wait at barriers for descheduled
        peers), so --threads caps the OpenMP/BLAS pools of every contestant alike."""
        env = dict(os.environ)
        if self.threads:
            for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
                env[var] = str(self.threads)
        return env

    def pair_dir(self, task: BenchTask, contestant: str) -> Path:
        return self.out / "pairs" / task.key.replace("/", "__") / contestant


def load_result(path: Path) -> PairResult | None:
    if not path.is_file():
        return None
    return PairResult(**json.loads(path.read_text()))


def run_pair(runner: Runner, task: BenchTask, contestant: str, retry_failed: bool = False) -> PairResult:
    """The pair's saved result if it finished before, else run it now and save it."""
    folder = runner.pair_dir(task, contestant)
    done = load_result(folder / "result.json")
    if done is not None and not (retry_failed and done.status in ("failed", "timeout")):
        log.info("%s %s: finished before (%s), not rerun", task.key, contestant, done.status)
        return done
    try:
        folder.mkdir(parents=True, exist_ok=True)
        if contestant in LINGUACODUS_VARIANTS:
            result = _run_linguacodus(runner, task, folder, contestant)
        else:
            result = _run_worker(runner, task, contestant, folder)
    except Exception as exc:  # noqa: BLE001 - the bench's own failure on one pair: reported, not saved, rerun next time
        log.exception("%s %s: the bench failed on this pair", task.key, contestant)
        return PairResult(task=task.key, contestant=contestant, metric=task.competition.metric,
                          higher_is_better=_higher(task.competition.metric), status="failed", score=None,
                          percentile=None, medal=None, seconds=0.0, budget_s=runner.budget_s,
                          reason=f"bench error (not saved): {exc}")
    storage.write_json(str(folder / "result.json"), result.to_dict())
    return result


_LIVE: set[subprocess.Popen] = set()  # every contestant process running now (several with --at-once)
_LIVE_LOCK = threading.RLock()  # re-entrant: the signal handler runs in the main thread, which may hold it
_STOPPING = threading.Event()  # set by the signal handler: no contestant starts after it


def run_process(cmd: list[str], timeout_s: float, folder: Path, env: dict[str, str] | None = None
                ) -> tuple[int | None, float]:
    """(exit code, or None after a timeout; wall seconds). Output goes to folder/stdout.txt and
    stderr.txt. The process leads its own session so a timeout kills everything it started."""
    start = time.monotonic()
    with open(folder / "stdout.txt", "wb") as out, open(folder / "stderr.txt", "wb") as err:
        with _LIVE_LOCK:  # started and registered at once: a signal between the two would miss it
            if _STOPPING.is_set():
                raise RuntimeError("the bench is stopping: no contestant starts")
            proc = subprocess.Popen(cmd, stdout=out, stderr=err, stdin=subprocess.DEVNULL, start_new_session=True,
                                    env=env)
            _LIVE.add(proc)
        try:
            code: int | None = proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            code = None
            _kill_group(proc)
        except BaseException:  # Ctrl-C: leave no AutoML process running behind the bench
            _kill_group(proc)
            raise
        finally:
            with _LIVE_LOCK:
                _LIVE.discard(proc)
    return code, round(time.monotonic() - start, 2)


def kill_on_signal() -> None:
    """SIGTERM or SIGINT to the bench kills every contestant's process group, then exits: the groups are
    sessions of their own (for the hard timeout), so a killed bench left them running, and the pairs they
    wrote afterwards mixed into the next invocation's table (measured: two orphaned linguacodus runs beside
    the next bench's first task)."""
    def stop(signum: int, _frame: Any) -> None:
        with _LIVE_LOCK:
            _STOPPING.set()
            live = list(_LIVE)
        for proc in live:
            _kill_group(proc)
        raise SystemExit(128 + signum)

    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, stop)


def _kill_group(proc: subprocess.Popen) -> None:
    """SIGTERM the process group, give the leader KILL_GRACE_S to exit, then SIGKILL the group
    anyway: children that outlive their leader (AutoML worker pools) must not keep running."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=KILL_GRACE_S)
        except subprocess.TimeoutExpired:
            continue


def _run_worker(runner: Runner, task: BenchTask, contestant: str, folder: Path) -> PairResult:
    comp = task.competition
    spec = {"contestant": contestant, "train": f"{comp.data_uri.rstrip('/')}/train.csv",
            "test": f"{comp.data_uri.rstrip('/')}/test.csv", "id_column": comp.id_column,
            "targets": list(comp.target), "task_type": comp.task_type, "metric": comp.metric,
            "budget_s": runner.budget_s, "kinds": task.kinds, "out_dir": str(folder), "threads": runner.threads}
    (folder / "spec.json").write_text(json.dumps(spec, indent=2))
    (folder / "submission.csv").unlink(missing_ok=True)  # a retry must not grade an old file
    python = runner.python.get(contestant, sys.executable)
    code, seconds = run_process([python, str(CONTESTANTS_PY), str(folder / "spec.json")],
                                runner.hard_timeout_s, folder, runner.env())
    info = json.loads((folder / "info.json").read_text()) if (folder / "info.json").is_file() else {}
    return _graded(task, contestant, folder, folder / "submission.csv", code, seconds, runner, info,
                   runner.hard_timeout_s)


def _run_linguacodus(runner: Runner, task: BenchTask, folder: Path, variant: str = "linguacodus") -> PairResult:
    cid = task.competition.competition_id
    cmd = [runner.linguacodus_cli, "run", "--catalog", task.catalog_uri, "--out", str(folder / "runs"),
           "--run-id", "quality", "--only", cid, *LINGUACODUS_VARIANTS[variant]]
    if runner.linguacodus_has_budget:
        cmd += ["--budget-s", f"{runner.budget_s:g}"]
    if runner.threads:
        # the embedded LLM's threads, and as many trials at once as threads: FLAML and AutoGluon fit one
        # model at a time, so N threads each is N cores each (2 single-thread trials would be 2 cores)
        cmd += ["--threads", str(runner.threads), "--trials-at-once", str(runner.threads)]
    code, seconds = run_process(cmd, runner.linguacodus_timeout_s, folder, runner.env())
    layout = storage.RunLayout(str(folder / "runs"), "quality")
    details: dict[str, Any] = {"budget_flag": runner.linguacodus_has_budget, "command": " ".join(cmd)}
    if Path(layout.results_parquet).is_file():
        rows = pd.read_parquet(layout.results_parquet)
        row = rows[rows["competition_id"] == cid].to_dict("records")
        if row:
            keep = ("status", "score", "leaderboard_percentile", "fallback_used", "attempts", "seconds_total",
                    "seconds_llm", "seconds_exec", "validation_score", "trials", "seconds_search", "solution_source",
                    "error")
            details["results_row"] = {k: _plain(row[0].get(k)) for k in keep if k in row[0]}
    result = _graded(task, variant, folder, Path(layout.competition(cid).submission_csv), code, seconds, runner, details,
                     runner.linguacodus_timeout_s)
    own = details.get("results_row", {}).get("score")
    if result.score is not None and own is not None and abs(own - result.score) > 1e-9:
        log.warning("%s: linguacodus recorded %s, the bench's grading gives %s", task.key, own, result.score)
    return result


def _graded(task: BenchTask, contestant: str, folder: Path, submission: Path, code: int | None, seconds: float,
            runner: Runner, details: dict[str, Any], timeout_s: float) -> PairResult:
    comp = task.competition
    base = {"task": task.key, "contestant": contestant, "metric": comp.metric, "seconds": seconds,
            "budget_s": runner.budget_s, "details": details, "percentile": None, "medal": None,
            "higher_is_better": _higher(comp.metric)}
    if code is None:
        return PairResult(**base, status="timeout", score=None, reason=f"killed after the hard timeout of {timeout_s:g} s")
    if not submission.is_file():
        own_error = details.get("results_row", {}).get("error")
        why = f"exit code {code}, no submission: " + (own_error or _last_line(folder / "stderr.txt"))
        return PairResult(**base, status="failed", score=None, reason=why)
    try:
        report = grade_competition(comp, str(submission))
    except Exception as exc:  # noqa: BLE001 - a grading problem is this pair's failure, not the bench's
        log.exception("%s %s: grading failed", task.key, contestant)
        return PairResult(**base, status="failed", score=None, reason=f"grading failed: {exc}")
    grade, place = report.result, report.placement
    base |= {"percentile": place.percentile if place else None, "medal": place.medal if place else None}
    if not grade.valid:
        return PairResult(**base, status="invalid", score=None, reason=grade.reason)
    return PairResult(**base, status="graded", score=grade.score, reason=None)


def _last_line(path: Path) -> str:
    """The last non-empty line of a log (usually the exception), for the table's reason column."""
    lines = [ln for ln in path.read_text(errors="replace").splitlines() if ln.strip()] if path.is_file() else []
    return lines[-1][:300] if lines else "no output"


def _higher(metric: str) -> bool:
    from actors.grading.metrics import get_metric

    return get_metric(metric).higher_is_better


def _plain(v: Any) -> Any:
    """Parquet values as JSON: numpy scalars to Python, NaN to None."""
    if hasattr(v, "item"):
        v = v.item()
    return None if isinstance(v, float) and v != v else v
