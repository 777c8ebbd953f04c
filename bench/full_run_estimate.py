"""How well a trial's sample run predicts its full cross-validation (actors/search/trials.py
`full_run_seconds`, which decides whether a full run that cannot end in the time left is started).

For each task and each default warm-start program (the four default estimators at mid-range settings),
runs the sample rung (3 folds on 2,000 rows) and then the full rung (5 folds on all rows) in the
sandbox, one after the other, and prints predicted and actual full-run seconds and their ratio.
Only tasks above 2,000 train rows mean anything (below, there is no sample rung).

Run: .venv/bin/python bench/full_run_estimate.py [--tasks diamonds-price movie-rating] [--open ../shared/benchmarks/open]
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tasks", nargs="+", default=["diamonds-price", "movie-rating"])
    ap.add_argument("--open", type=Path, default=REPO.parent / "shared" / "benchmarks" / "open")
    ap.add_argument("--sample-rows", type=int, default=2000)
    args = ap.parse_args()

    import pandas as pd

    from actors.context import TaskContext
    from actors.facts import compute_facts
    from actors.sandbox.sandbox import SandboxConfig
    from actors.search.proposal import default_space
    from actors.search.run import default_warm_starts
    from actors.search.timing import full_run_seconds
    from actors.search.trials import TrialSpec, run_rung, trial_script
    from jobs.catalog import task_row

    for task in args.tasks:
        comp, reasons = task_row(str(args.open / task))
        if comp is None:
            raise SystemExit(f"{task}: not a task folder ({'; '.join(reasons)})")
        train = pd.read_csv(args.open / task / "train.csv", dtype={comp.id_column: str})
        test = pd.read_csv(args.open / task / "test.csv", dtype={comp.id_column: str})
        ctx = TaskContext(comp, compute_facts(comp, train, test))
        space = default_space(ctx)
        with tempfile.TemporaryDirectory(prefix="lc-bench-estimate-") as scratch:
            spec = TrialSpec(ctx=ctx, space=space, constants=ctx.harness_constants(0, folds=5),
                             inputs={k: str(args.open / task / k) for k in ("train.csv", "test.csv")},
                             truth=train[[comp.id_column, *comp.target]], sandbox=SandboxConfig(timeout_s=900),
                             sample_rows=args.sample_rows, sample_folds=3, scratch=scratch,
                             deadline=time.time() + 24 * 3600)
            for start in default_warm_starts(space, ctx):
                script = trial_script(spec, start.config)
                sample, full = run_rung(spec, script, 1, None), run_rung(spec, script, 2, None)
                predicted = full_run_seconds(sample.seconds, sample.cv_seconds or 0.0, ctx.facts.n_train,
                                             args.sample_rows, 5, 3)
                print(f"{task:22} {start.source:30} sample {sample.seconds:6.1f} s (CV {sample.cv_seconds or 0:5.1f})  "
                      f"predicted {predicted:6.1f} s  actual {full.seconds:6.1f} s (CV {full.cv_seconds or 0:5.1f})  "
                      f"ratio {predicted / full.seconds:4.2f}", flush=True)


if __name__ == "__main__":
    main()
