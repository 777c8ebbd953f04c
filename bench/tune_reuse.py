"""What Tune's `reuse_actors=True` (actors/search/trials.py) buys: trials per budget with and without it,
side by side in one invocation, alternating the order per repeat (machines are noisy).

1. A trivial trainable (sleep 0.1 s, report once): N trials, 2 at a time, 0.5 CPU each; wall seconds.
2. The real search (`run_search`, default space and warm starts, sandboxed trials) on an open task at a
   fixed budget: trials started and trials that finished their full cross-validation. Without reuse is
   measured by patching `tune.TuneConfig` in this process only: the product has no switch for it.
3. `--concurrent`: two searches at once with reused actors, as `linguacodus run --concurrency 2` runs
   them on 2 cores (a 0.5-CPU stand-in for the LLM actor, each search in a 0.25-CPU actor, trials of 2 s
   at 0.5 CPU, a 30 s budget each, the second starting 3 s later): trials each with 2 at a time per
   search (before jobs/run.py's `trial_concurrency`) and with 1 (its fair share there).

Run: .venv/bin/python bench/tune_reuse.py [--trials 12] [--task cars-mpg] [--budget-s 60] [--repeats 1]
     [--open ../shared/benchmarks/open] [--concurrent]   (--budget-s 0 skips the real search)
"""
from __future__ import annotations

import argparse
import contextlib
import logging
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from collections.abc import Iterator

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def _sleep_trainable(config: dict) -> None:
    from ray import tune

    time.sleep(0.1)
    tune.report({"score": config["x"]})


@contextlib.contextmanager
def reuse(enabled: bool) -> Iterator[None]:
    """tune.TuneConfig with reuse_actors forced to `enabled` (what run_tune passes is overridden)."""
    from ray import tune

    original = tune.TuneConfig

    def patched(*args, **kwargs):
        kwargs["reuse_actors"] = enabled
        return original(*args, **kwargs)

    tune.TuneConfig = patched
    try:
        yield
    finally:
        tune.TuneConfig = original


def trivial(trials: int) -> float:
    from ray import tune

    started = time.perf_counter()
    tuner = tune.Tuner(tune.with_resources(_sleep_trainable, {"cpu": 0.5}),
                       param_space={"x": tune.grid_search(list(range(trials)))},
                       tune_config=tune.TuneConfig(max_concurrent_trials=2),
                       run_config=tune.RunConfig(storage_path=tempfile.mkdtemp(prefix="lc-bench-reuse-"), verbose=0))
    tuner.fit()
    return time.perf_counter() - started


def real_search(task: str, open_dir: Path, budget_s: float) -> tuple[int, int]:
    import pandas as pd

    from actors.context import TaskContext
    from actors.facts import compute_facts
    from actors.sandbox.sandbox import SandboxConfig
    from actors.search.proposal import default_space
    from actors.search.run import SearchRunConfig, run_search
    from jobs.catalog import task_row

    comp, reasons = task_row(str(open_dir / task))
    if comp is None:
        raise SystemExit(f"{task}: not a task folder ({'; '.join(reasons)})")
    train = pd.read_csv(open_dir / task / "train.csv", dtype={comp.id_column: str})
    test = pd.read_csv(open_dir / task / "test.csv", dtype={comp.id_column: str})
    ctx = TaskContext(comp, compute_facts(comp, train, test))
    with tempfile.TemporaryDirectory(prefix="lc-bench-reuse-") as scratch:
        out = run_search(ctx, inputs={"train.csv": open_dir / task / "train.csv", "test.csv": open_dir / task / "test.csv"},
                         truth=train[[comp.id_column, *comp.target]], sandbox=SandboxConfig(), config=SearchRunConfig(),
                         space=default_space(ctx), space_source="default", warm=[], baseline=None,
                         time_budget_s=budget_s, seed=0, scratch=Path(scratch))
    trials = out.record["trials"]
    return len(trials), sum(t["status"] == "completed" for t in trials)


def two_searches(max_concurrent: int) -> tuple[int, int]:
    """Trials that reported in each of two concurrent searches (first, second)."""
    import ray
    from ray import tune

    def trainable(config: dict) -> None:
        time.sleep(2.0)
        tune.report({"score": config["x"]})

    @ray.remote(num_cpus=0.25)
    class Searcher:
        def search(self, delay: float) -> int:
            time.sleep(delay)
            tuner = tune.Tuner(tune.with_resources(trainable, {"cpu": 0.5}), param_space={"x": tune.uniform(0, 1)},
                               tune_config=tune.TuneConfig(metric="score", mode="max", num_samples=500,
                                                           max_concurrent_trials=max_concurrent, reuse_actors=True,
                                                           time_budget_s=30),
                               run_config=tune.RunConfig(storage_path=tempfile.mkdtemp(prefix="lc-bench-reuse-"),
                                                         verbose=0))
            return sum(1 for r in tuner.fit() if r.metrics and "score" in r.metrics)

    @ray.remote(num_cpus=0.5)
    class StandIn:  # the LLM actor's logical CPUs
        def ready(self) -> bool:
            return True

    llm = StandIn.remote()
    ray.get(llm.ready.remote())
    a, b = Searcher.remote(), Searcher.remote()
    first, second = ray.get([a.search.remote(0.0), b.search.remote(3.0)])
    for actor in (a, b, llm):
        ray.kill(actor)
    return first, second


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--trials", type=int, default=12)
    ap.add_argument("--task", default="cars-mpg")
    ap.add_argument("--budget-s", type=float, default=60.0)
    ap.add_argument("--repeats", type=int, default=1)
    ap.add_argument("--open", type=Path, default=REPO.parent / "shared" / "benchmarks" / "open")
    ap.add_argument("--concurrent", action="store_true", help="only part 3: two searches at once")
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")
    import ray

    ray.init(include_dashboard=False, logging_level=logging.WARNING, log_to_driver=False,
             num_cpus=max(2, os.cpu_count() or 2))
    if args.concurrent:
        for repeat in range(args.repeats):
            for at_once in ((2, 1) if repeat % 2 == 0 else (1, 2)):
                first, second = two_searches(at_once)
                print(f"repeat {repeat} two searches, {at_once} trial(s) at once each: {first} and {second} trials",
                      flush=True)
        ray.shutdown()
        return
    trivial(2)  # warm-up, not recorded: the first Tune run of a session pays Ray's worker start-up
    rows = []
    for repeat in range(args.repeats):
        for enabled in ((True, False) if repeat % 2 == 0 else (False, True)):
            with reuse(enabled):
                seconds = trivial(args.trials)
                searched = real_search(args.task, args.open, args.budget_s) if args.budget_s > 0 else (None, None)
            rows.append((repeat, enabled, seconds, *searched))
            print(f"repeat {repeat} reuse_actors={enabled!s:5}  trivial: {args.trials} trials in {seconds:6.1f} s"
                  + (f"  | {args.task} {args.budget_s:g} s search: {searched[0]} trials, {searched[1]} full"
                     if searched[0] is not None else ""), flush=True)
    ray.shutdown()
    for enabled in (True, False):
        mine = [r for r in rows if r[1] is enabled]
        line = f"reuse_actors={enabled!s:5}  trivial median {statistics.median(r[2] for r in mine):6.1f} s"
        if mine[0][3] is not None:
            line += f"  | search trials {[r[3] for r in mine]}, full {[r[4] for r in mine]}"
        print(line)


if __name__ == "__main__":
    main()
