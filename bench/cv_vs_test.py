"""Does the harness's K-fold CV score track the test score? For each open task, a few configurations
rendered directly (no LLM) run in the real sandbox as search trials would: CV score from the OOF
predictions (val_predictions.csv, scored by the pipeline's own function), test score from grading
submission.csv against the private answers, seconds per trial. Then the Caruana ensemble of the
task's trials: its OOF score from the selection, its test score from running the standalone script.

Run: .venv/bin/python bench/cv_vs_test.py [--tasks diamonds-price ...] [--folds 5]"""
from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout, installed or not
from actors.context import TaskContext
from actors.search.ensemble import assemble_ensemble, select_ensemble
from actors.facts import compute_facts
from actors.grading.grader import grade_submission
from actors.harness.integrate import assemble
from actors.sandbox.sandbox import Sandbox, SandboxConfig
from actors.search.proposal import default_space
from actors.search.space import ProgramConfig, render_config
from actors.harness.diagnose import validation_score_of
from actors.task import Competition

OPEN = Path(__file__).resolve().parents[2] / "shared" / "benchmarks" / "open"
TASKS = ["diamonds-price", "movie-rating", "fair-affairs", "breast-cancer", "seattle-weather"]


def context(task: str) -> TaskContext:
    folder = OPEN / task
    meta = json.loads((folder / "meta.json").read_text())
    comp = Competition(competition_id=task, description="-", metric=meta["metric"], task_type=meta["task_type"],
                       target=[meta["target"]], id_column=meta["id_column"], data_uri=str(folder),
                       answers_uri=str(folder / "answers.csv"))
    return TaskContext(comp, compute_facts(comp, pd.read_csv(folder / "train.csv"), pd.read_csv(folder / "test.csv")))


def configs(ctx: TaskContext) -> dict[str, ProgramConfig]:
    """Three program families on the default space's variants: one-hot (+ sparse TF-IDF) for the
    linear model, integer codes (+ SVD of the TF-IDF) for the trees."""
    space = default_space(ctx)
    onehot, codes = space.preprocess[0], space.preprocess[min(1, len(space.preprocess) - 1)]
    value = ctx.kind == "value"
    return {
        "lightgbm": ProgramConfig(preprocess=codes, estimator="LGBMRegressor" if value else "LGBMClassifier",
                                  params={"n_estimators": 400, "learning_rate": 0.05, "num_leaves": 31}),
        "linear": ProgramConfig(preprocess=onehot, estimator="Ridge" if value else "LogisticRegression",
                                params={"alpha": 1.0} if value else {"C": 1.0}),
        "extra-trees": ProgramConfig(preprocess=codes, estimator="ExtraTreesRegressor" if value else "ExtraTreesClassifier",
                                     params={"n_estimators": 300, "min_samples_leaf": 2, "max_features": 0.7}),
    }


def run(script: str, task: str, work: Path, args: list[str]) -> float:
    work.mkdir(parents=True)
    (work / "solution.py").write_text(script)
    inputs = {n: OPEN / task / n for n in ("train.csv", "test.csv")}
    result = Sandbox(SandboxConfig(timeout_s=1800)).run(work / "solution.py", work, inputs, args=args)
    if not result.ok:
        raise RuntimeError(f"{task}: {result.stderr[-1500:]}")
    return result.duration_s


def scores(ctx: TaskContext, work: Path, truth: pd.DataFrame) -> tuple[float | None, float | None]:
    comp = ctx.competition
    kw = {"metric": comp.metric, "id_column": comp.id_column, "targets": list(comp.target)}
    cv = validation_score_of(work / "val_predictions.csv", truth, classes=ctx.facts.classes or None, **kw)
    graded = grade_submission(pd.read_csv(work / "submission.csv"), pd.read_csv(comp.answers_uri),
                              classes=ctx.facts.classes or None, **kw)
    return cv, graded.score


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tasks", nargs="+", default=TASKS)
    parser.add_argument("--folds", type=int, default=5)
    args = parser.parse_args()
    rows = []
    tmp = Path(tempfile.mkdtemp(prefix="lc-cv-bench-"))
    try:
        for task in args.tasks:
            ctx = context(task)
            comp = ctx.competition
            truth = pd.read_csv(OPEN / task / "train.csv")[[comp.id_column, *comp.target]]
            stages, oof = [], []
            for name, config in configs(ctx).items():
                work = tmp / task / name
                seconds = run(assemble(ctx.harness_constants(folds=args.folds), render_config(ctx, config)), task, work, [])
                cv, test = scores(ctx, work, truth)
                rows.append((task, comp.metric, name, cv, test, seconds))
                print(f"{task:16} {name:12} cv {cv:.4f} test {test:.4f} {seconds:6.1f} s", flush=True)
                stages.append(render_config(ctx, config))
                oof.append(pd.read_csv(work / "oof_raw.csv"))
            sel = select_ensemble(oof, truth, metric=comp.metric, id_column=comp.id_column, targets=comp.target,
                                  classes=ctx.facts.classes)
            work = tmp / task / "ensemble"
            started = time.monotonic()
            seconds = run(assemble_ensemble(ctx.harness_constants(), list(zip(stages, sel.weights)), folds=0),
                          task, work, [])
            test = grade_submission(pd.read_csv(work / "submission.csv"), pd.read_csv(comp.answers_uri),
                                    metric=comp.metric, id_column=comp.id_column, targets=list(comp.target),
                                    classes=ctx.facts.classes or None).score
            weights = "/".join(f"{w:.2f}" for w in sel.weights)
            rows.append((task, comp.metric, f"ensemble {weights}", sel.score, test, seconds))
            print(f"{task:16} ensemble     cv {sel.score:.4f} test {test:.4f} {seconds:6.1f} s "
                  f"(weights {weights}, {time.monotonic() - started:.0f} s)", flush=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"\n{args.folds}-fold CV vs test (sandbox seconds per trial: {args.folds} fold fits + the refit)")
    print("| task | metric | program | CV | test | seconds |\n|---|---|---|---|---|---|")
    for task, metric, name, cv, test, seconds in rows:
        print(f"| {task} | {metric} | {name} | {cv:.4f} | {test:.4f} | {seconds:.1f} |")


if __name__ == "__main__":
    main()
