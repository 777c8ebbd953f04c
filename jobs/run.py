"""`linguacodus run`: a catalog through the pipeline on Ray Data, results in the SPEC layout.

Resumable: a competition whose result.json exists is not solved again; results.parquet is rebuilt
from every result.json at the end (so a resumed run has no duplicate rows) and `_SUCCESS` is
written last, once every competition of the catalog has a row.
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import shutil
import sys
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import ValidationError

import storage
from actors.errors import ConfigError
from actors.task import Competition
from jobs.config import RunConfig
from actors.sandbox.disk import sweep_stale, sweep_stale_mounts
from jobs.run_inputs import check_inputs, temp_root
from jobs.run_options import add_arguments, from_args, to_config
from jobs.slots import TrialSlots
from storage.results import CompetitionResult

logger = logging.getLogger(__name__)
LLM_ACTOR_CPUS = 0.5  # logical CPUs: with 2 cores, whole-CPU actors would starve Ray Data (see README)
SOLVER_CPUS = 0.25


def _versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {"python": platform.python_version()}
    for pkg in ("linguacodus", "ray", "xllamacpp", "scikit-learn", "lightgbm", "pandas"):
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            out[pkg] = "not installed"
    return out


def _clear_scratch(scratch: Path) -> None:
    """Remove a run's scratch dir and the sandbox disks killed processes left in the temp dir. Their
    host mounts go first: a mount point cannot be removed, wherever below the temp dir it is."""
    sweep_stale_mounts()
    sweep_stale()
    shutil.rmtree(scratch, ignore_errors=True)


def _solve_all(config: RunConfig, todo: list[Competition]) -> dict[str, Any]:
    """Solve `todo` on Ray; return the session's throughput and peak memory (for run.json)."""
    import ray

    from actors.llm.actor import start_llm_actor
    from actors.sandbox.cgroup import peak_rss_mb
    from jobs.progress import ProgressView, start_board
    from jobs.solve import CompetitionSolver

    if not ray.is_initialized():
        _start_ray()
    llm = None
    if config.llm.backend == "embedded" and config.mode != "search":
        llm = start_llm_actor(config.llm, num_cpus=LLM_ACTOR_CPUS, max_concurrency=config.concurrency + 1)
    _quiet_ray_data()
    import ray.data

    competitions = min(config.concurrency, len(todo))
    slots = TrialSlots.of(ray.cluster_resources().get("CPU", 0.0),
                          (LLM_ACTOR_CPUS if llm is not None else 0.0) + SOLVER_CPUS * competitions,
                          config.search.trial_cpus, competitions, config.search.max_concurrent)
    logger.info("trial slots: %d free, for %d competition(s) at once", slots.free, competitions)

    board = start_board(len(todo))  # the solvers report each step there; the view below shows them
    ds = ray.data.from_items([{"competition": c.model_dump_json()} for c in todo],
                             override_num_blocks=len(todo))
    ds = ds.map_batches(CompetitionSolver, fn_constructor_kwargs={"config_json": config.model_dump_json(),
                                                                  "llm": llm, "board": board, "slots": slots},
                        batch_size=1, num_cpus=SOLVER_CPUS,
                        # one competition per actor at a time: by default Ray Data queues several on the
                        # first actor that is up, and --concurrency 2 then solves them one after the other
                        compute=ray.data.ActorPoolStrategy(size=competitions,
                                                           max_tasks_in_flight_per_actor=1))
    layout = storage.RunLayout(config.out, config.run_id)
    solvers: dict[int, float] = {}  # solver actor pid -> its peak RSS
    sandboxes = 0.0  # the largest memory high-water mark of a sandboxed program
    finished, t0 = 0, time.monotonic()
    with ProgressView(board, len(todo)) as view:
        for done in ds.iter_rows():
            finished += 1
            solvers[done["pid"]] = max(solvers.get(done["pid"], 0.0), done["peak_rss_mb"])
            sandboxes = max(sandboxes, done["sandbox_peak_mb"])
            view.finished(done["competition_id"], done["status"], json.loads(done["score"]))
            if done["unwritten_row"]:  # the actor's store gave up: one more try from here, then no row
                try:
                    storage.write_json(layout.competition(done["competition_id"]).result_json,
                                       json.loads(done["unwritten_row"]))
                except storage.StorageError as exc:
                    logger.error("%s: result.json not written: %s", done["competition_id"], exc)
    hours = (time.monotonic() - t0) / 3600
    resources = {"competitions": finished, "tasks_per_hour": round(finished / hours, 1) if hours > 0 else None,
                 "driver_peak_rss_mb": peak_rss_mb(), "solver_actors": len(solvers),
                 "solver_peak_rss_mb": max(solvers.values(), default=None),
                 "sandbox_peak_mb": sandboxes or None,
                 "llm_actor_peak_rss_mb": llm.peak_rss_mb() if llm is not None else None}
    logger.info("session: %s", ", ".join(f"{k} {v}" for k, v in resources.items()))
    return resources


def _quiet_ray_data() -> None:
    """Ray Data's own progress off: jobs/progress.py shows the run instead (off a terminal Ray Data would log
    a 7-line "Total Progress" block every 10 s), and its INFO lines (execution plan, start, end) go to its
    log file (ray-data.log in the session's logs) only, not to the console."""
    import ray.data
    from ray.util.debug import log_once

    ray.data.DataContext.get_current().enable_progress_bars = False
    log_once("ray_data_progress_manager_disabled")  # taken now: no "Progress bars disabled" warning
    for handler in logging.getLogger("ray.data").handlers:
        if handler.get_name() == "console":
            handler.setLevel(logging.WARNING)


def run(config: RunConfig) -> list[dict[str, Any]]:
    """Solve every competition of the catalog not already complete under OUT/RUN_ID; return all rows."""
    layout = storage.RunLayout(config.out, config.run_id)
    started = datetime.now(UTC).isoformat()
    catalog = check_inputs(config)  # ConfigError naming every bad argument, before anything is written
    valid, bad = catalog.valid, catalog.skipped
    if config.only:
        valid = [c for c in valid if c.competition_id in set(config.only)]
        bad = [b for b in bad if b["competition_id"] in set(config.only)]
    for row in bad:
        logger.warning("%s skipped: %s", row["competition_id"], row["error"])
        skipped = CompetitionResult(run_id=config.run_id, competition_id=row["competition_id"], status="skipped",
                                    valid_submission=False, fallback_used=False, attempts=0, error=row["error"])
        storage.write_json(layout.competition(row["folder"]).result_json, skipped.to_json())
    done = {c.competition_id for c in valid if _complete(layout, c.competition_id)}
    todo = [c for c in valid if c.competition_id not in done]
    logger.info("run %s: %d competitions, %d already complete, %d to solve, %d invalid rows",
                config.run_id, len(valid), len(done), len(todo), len(bad))
    previous = storage.read_json(layout.run_json) if storage.exists(layout.run_json) else {}
    run_info = {"run_id": config.run_id, "schema_version": storage.RESULTS_SCHEMA_VERSION,
                "config": config.model_dump(mode="json"), "versions": _versions(),
                "started_at": previous.get("started_at", started),
                "sessions": [*previous.get("sessions", []), {"started_at": started, "to_solve": len(todo)}],
                "catalog_duplicates": catalog.duplicates}
    storage.write_json(layout.run_json, run_info)
    t0 = time.monotonic()
    scratch = temp_root(config.out, config.run_id)
    _clear_scratch(scratch)  # what a killed session of this run left behind
    if todo:
        try:
            run_info["sessions"][-1]["resources"] = _solve_all(config, todo)
        finally:  # again: a killed session's process that was still exiting at the start is gone now
            _clear_scratch(scratch)
    ids = [c.competition_id for c in valid] + [b["folder"] for b in bad]
    results = [CompetitionResult.from_json(storage.read_json(layout.competition(cid).result_json)) for cid in ids
               if storage.exists(layout.competition(cid).result_json)]
    storage.write_parquet(layout.results_parquet, storage.rows_to_table(results).to_pandas())
    counts = dict(Counter(r.status for r in results))
    run_info.update(finished_at=datetime.now(UTC).isoformat(), counts=counts,
                    seconds_this_session=round(time.monotonic() - t0, 1),
                    model=next((r.model for r in results if r.model), None))
    storage.write_json(layout.run_json, run_info)
    if len(results) == len(ids):
        storage.write_text(layout.success, "")
    else:
        logger.error("%d of %d competitions have no result; _SUCCESS not written", len(ids) - len(results), len(ids))
    try:  # the results index and report.html: a failure there is logged, never a failed run
        from jobs.results import publish
        publish(config.out, config.run_id)
    except Exception:  # noqa: BLE001
        logger.exception("run %s: index / report not written", config.run_id)
    return [r.row() for r in results]


def _complete(layout: storage.RunLayout, cid: str) -> bool:
    """A competition is complete when its result.json exists and it did not fail (a failure may be
    transient: storage or endpoint down), so a resumed run retries failed rows only."""
    uri = layout.competition(cid).result_json
    return storage.exists(uri) and storage.read_json(uri).get("status") != "failed"


def print_summary(rows: list[dict[str, Any]], out: str) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"linguacodus results ({out})")
    cols = ("competition_id", "status", "score", "validation_score", "leaderboard_percentile", "attempts",
            "fallback_used", "prompt_tokens", "completion_tokens", "seconds_total")
    for c in cols:
        table.add_column(c.replace("_", " "), overflow="fold")
    for r in rows:
        table.add_row(*[_fmt(r.get(c)) for c in cols])
    llm_valid = sum(1 for r in rows if r.get("valid_submission") and not r.get("fallback_used"))
    console = Console(stderr=False)
    if not console.is_terminal:  # logs and job output: rich's 80-column default wraps every cell
        console = Console(stderr=False, width=200)
    console.print(table)
    print(f"valid submissions: {sum(1 for r in rows if r.get('valid_submission'))}/{len(rows)} "
          f"(LLM path without the floor: {llm_valid}); tokens: "
          f"{sum(int(r.get('prompt_tokens') or 0) for r in rows)} prompt + "
          f"{sum(int(r.get('completion_tokens') or 0) for r in rows)} completion")


class RayStartError(RuntimeError):
    """Ray could not be started or joined, after the retries."""


RAY_START_TRIES = 3


def _start_ray(tries: int = RAY_START_TRIES, backoff_s: float = 10.0) -> None:
    """RAY_ADDRESS (set by `ray job submit`, or "auto" by hand) joins a cluster; otherwise always a fresh
    local one, never whatever cluster /tmp/ray/ray_current_cluster happens to name. A start that times
    out (measured: "the current node timed out during startup" at load average 25 on 2 cores) is
    transient: it is retried with backoff, then reported in one line."""
    import ray

    address = os.environ.get("RAY_ADDRESS")
    for attempt in range(1, tries + 1):
        try:
            ray.init(address=address or "local", ignore_reinit_error=True, include_dashboard=False,
                     logging_level=logging.WARNING,
                     **({} if address else {"num_cpus": max(2, os.cpu_count() or 2)}))
            return
        except Exception as exc:  # noqa: BLE001 - Ray raises bare Exception / ConnectionError here
            ray.shutdown()  # what the failed start left (its processes, the half-made session)
            if attempt == tries:
                where = f"join the Ray cluster at {address}" if address else "start a local Ray node"
                raise RayStartError(f"could not {where} after {tries} tries: {str(exc).splitlines()[0]}") from exc
            logger.warning("Ray did not start (try %d of %d), again in %.0f s: %s", attempt, tries,
                           backoff_s * attempt, str(exc).splitlines()[0])
            time.sleep(backoff_s * attempt)


def _fmt(v: Any) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)


def config_from_args(args: argparse.Namespace) -> RunConfig:
    return to_config(from_args(args))


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("run", help="solve a catalog of competitions on Ray", description=(
        "Solve every competition of a catalog on Ray (facts, ranked instructions, refinement, stages checked "
        "in the sandbox, fix loop, search, grade) and write OUT/RUN_ID/: one result row per competition, "
        "artifacts, report.html. The same --run-id again resumes (finished competitions are skipped). "
        "Progress: a live view on a terminal, otherwise one log line per competition per step."))
    add_arguments(p)
    p.set_defaults(func=_main)


def _main(args: argparse.Namespace) -> int:
    try:
        config = config_from_args(args)
        rows = run(config)
    except (ConfigError, ValidationError) as exc:  # bad arguments: one line each, before Ray started
        for line in _problem_lines(exc):
            print(f"linguacodus run: error: {line}", file=sys.stderr)
        return 2
    except storage.StorageError as exc:  # the store stayed unreachable for the whole retry window
        print(f"linguacodus run: error: storage: {exc}", file=sys.stderr)
        return 1
    except RayStartError as exc:  # nothing was solved; the same command resumes once Ray starts
        print(f"linguacodus run: error: {exc}", file=sys.stderr)
        return 1
    print_summary(rows, storage.RunLayout(config.out, config.run_id).root)
    return 0 if rows else 1


def _problem_lines(exc: Exception) -> list[str]:
    if isinstance(exc, ValidationError):
        return [f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()]
    return str(exc).splitlines()
