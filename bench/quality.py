"""Scores side by side: linguacodus, FLAML, AutoGluon-Tabular and untuned baselines, on the same
tasks, machine and wall-clock budget per task, every submission graded by the project's grader.

Install the competitors (an optional extra; not part of the default or dev install):

    .venv/bin/pip install -e '.[bench]'   # FLAML 2.7.0 + its automl deps, xgboost as xgboost-cpu (no CUDA)

AutoGluon-Tabular is not in the extra: autogluon.tabular 1.6.3 needs pandas<2.4 and would
downgrade the project's pandas 3. `bash bench/setup_autogluon.sh` installs it (torch 2.13.0 CPU,
xgboost-cpu, no CUDA) in bench-results/venv-autogluon, which the bench uses when present (or
--autogluon-python PY). Without it the bench prints why AutoGluon did not run and goes on.

Run (the open set of ../shared/benchmarks/open, plus any catalog folders or Parquet files):

    .venv/bin/python bench/quality.py [--budget-s 300] [--tasks penguins digits]
        [--contestants linguacodus flaml autogluon baseline-hgb baseline-tfidf]
        [--catalog examples/tasks ...] [--out bench-results/quality] [--autogluon-python PY]

Contestants, each in its own process with a hard timeout (the whole process group is killed):
- linguacodus: `linguacodus run` at its defaults on a catalog holding the task (`--budget-s` passed
  only when the installed CLI has it), its OUT/RUN/TASK/submission.csv graded again here;
- flaml: `AutoML.fit(time_budget=budget)` on the raw columns, the task's metric mapped to FLAML's;
- autogluon: `TabularPredictor.fit(time_limit=budget)`, medium_quality under 600 s, good_quality above;
- baseline-hgb: HistGradientBoosting at its defaults on the tabular columns (categoricals encoded);
- baseline-tfidf (tasks with text columns, as actors/facts.py detects them): TF-IDF + logistic
  regression / ridge over text, one-hot categoricals and scaled numerics.
Per task it prints score, leaderboard percentile (where leaderboard.csv exists), seconds and the
winner; then medians and the counts issue 10 targets. Results go to OUT/results.csv and
OUT/results.json; OUT/pairs/TASK/CONTESTANT/ holds each pair's files and result.json, so a
re-run skips finished pairs (--retry-failed reruns failed and timed-out ones).
"""
from __future__ import annotations

import argparse
import logging
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import pandas as pd  # noqa: E402

import storage  # noqa: E402
from bench.quality_report import render  # noqa: E402
from bench.quality_run import LINGUACODUS_VARIANTS, PairResult, Runner, kill_on_signal, run_pair  # noqa: E402
from bench.quality_tasks import BenchTask, load_tasks, select, with_kinds  # noqa: E402

log = logging.getLogger("bench.quality")
DEFAULT_OPEN = REPO.parent / "shared" / "benchmarks" / "open"
# Where bench/setup_autogluon.sh puts AutoGluon (its own venv: it would downgrade the project's pandas).
AUTOGLUON_VENV_PYTHON = REPO / "bench-results" / "venv-autogluon" / "bin" / "python"
CONTESTANTS = (*LINGUACODUS_VARIANTS, "flaml", "autogluon", "baseline-hgb", "baseline-tfidf")
# contestant -> (module to import, distribution whose version is reported)
IMPORTS = {"flaml": ("flaml.automl", "flaml"), "autogluon": ("autogluon.tabular", "autogluon.tabular")}
INSTALL_HINT = {"flaml": "pip install -e '.[bench]'",
                "autogluon": "bash bench/setup_autogluon.sh installs it in a venv of its own (see its header)"}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--budget-s", type=float, default=300.0, help="wall-clock budget per task and contestant")
    ap.add_argument("--tasks", nargs="+", default=None, help="only these tasks (competition ids)")
    ap.add_argument("--contestants", nargs="+", choices=CONTESTANTS, default=list(CONTESTANTS))
    ap.add_argument("--out", type=Path, default=REPO / "bench-results" / "quality", help="results folder (resumable)")
    ap.add_argument("--open", default=str(DEFAULT_OPEN), help="the open task folders ('' to leave them out)")
    ap.add_argument("--catalog", action="append", default=[], help="extra catalog: folder of task folders or Parquet")
    ap.add_argument("--autogluon-python", default=str(AUTOGLUON_VENV_PYTHON if AUTOGLUON_VENV_PYTHON.is_file()
                                                      else sys.executable),
                    help="interpreter that has autogluon.tabular (default: bench/setup_autogluon.sh's venv if present)")
    ap.add_argument("--hard-timeout-s", type=float, default=None,
                    help="kill an AutoML/baseline process after this (default: 2 x budget + 300)")
    ap.add_argument("--linguacodus-timeout-s", type=float, default=None,
                    help="kill a linguacodus run after this (default: as --hard-timeout-s when the CLI takes "
                         "--budget-s, else 1800: without a budget its time is its own)")
    ap.add_argument("--threads", type=int, default=None,
                    help="threads of every contestant (OpenMP/BLAS pools, n_jobs, num_cpus, the LLM's "
                         "--threads); default: each library's own (all cores). Use 1 on a busy shared host")
    ap.add_argument("--at-once", type=int, default=1, metavar="N",
                    help="contestants run side by side on each task, N processes at once (with --threads 1 and N "
                         "no more than the cores, each has a core: equal CPU, the same moment's machine)")
    ap.add_argument("--retry-failed", action="store_true", help="rerun pairs that failed or timed out")
    return ap.parse_args(argv)


def available(contestant: str, python: str, cli: str | None) -> str | None:
    """None if the contestant can run here, else why not (one line)."""
    if contestant in LINGUACODUS_VARIANTS:
        return None if cli else "the linguacodus CLI is not installed next to this Python"
    if contestant not in IMPORTS:
        return None
    module, dist = IMPORTS[contestant]
    probe = f"import {module}, importlib.metadata as m; print(m.version('{dist}'))"
    try:
        done = subprocess.run([python, "-c", probe], capture_output=True, text=True, timeout=300)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"{python} cannot import {module}: {exc}"
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        return f"{python} cannot import {module} ({last}); {INSTALL_HINT[contestant]}"
    log.info("%s: %s %s under %s", contestant, dist, done.stdout.strip(), python)
    return None


def linguacodus_cli() -> tuple[str | None, bool]:
    """(the CLI, whether its `run` takes --budget-s): the search with a budget lands separately."""
    cli = Path(sys.executable).parent / "linguacodus"
    path = str(cli) if cli.is_file() else shutil.which("linguacodus")
    if path is None:
        return None, False
    helptext = subprocess.run([path, "run", "--help"], capture_output=True, text=True, timeout=300).stdout
    return path, "--budget-s" in helptext


def applies(contestant: str, task: BenchTask) -> bool:
    return contestant != "baseline-tfidf" or bool(task.text_columns)


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    args = parse_args(argv)
    out = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    tasks, problems = load_tasks([s for s in [args.open, *args.catalog] if s], out)
    tasks, unknown = select(tasks, args.tasks)
    for line in problems + [f"unknown task: {n}" for n in unknown]:
        print(f"SKIPPED {line}")
    lc = [c for c in args.contestants if c in LINGUACODUS_VARIANTS]
    cli, has_budget = linguacodus_cli() if lc else (None, False)
    contestants = []
    for c in args.contestants:
        why = available(c, args.autogluon_python if c == "autogluon" else sys.executable, cli)
        if why:
            print(f"NOT RUN {c}: {why}")
        else:
            contestants.append(c)
    if lc and not has_budget:
        print("NOTE linguacodus: the installed CLI has no --budget-s; it runs at its defaults without a budget")
    hard = args.hard_timeout_s or 2 * args.budget_s + 300
    runner = Runner(budget_s=args.budget_s, out=out, python={"autogluon": args.autogluon_python},
                    linguacodus_cli=cli or "", linguacodus_has_budget=has_budget, hard_timeout_s=hard,
                    linguacodus_timeout_s=args.linguacodus_timeout_s or (hard if has_budget else 1800.0),
                    threads=args.threads)
    table: dict[str, dict[str, PairResult]] = {}
    for task in tasks:
        try:
            task = with_kinds(task)
        except Exception as exc:  # noqa: BLE001 - an unreadable task is skipped, the others go on
            print(f"SKIPPED {task.key}: cannot read its train.csv / test.csv: {exc}")
            continue
        row = table.setdefault(task.key, {})
        here = [c for c in contestants if applies(c, task)]
        with ThreadPoolExecutor(max_workers=max(1, args.at_once)) as pool:  # each pair is its own process
            done = pool.map(lambda c, t=task: run_pair(runner, t, c, retry_failed=args.retry_failed), here)
            for c, result in zip(here, done, strict=True):
                row[c] = result
                log.info("%s %s: %s score=%s seconds=%s", task.key, c, result.status, result.score, result.seconds)
    text = render(table, contestants)
    threads = f"{args.threads} thread(s)" if args.threads else "all cores"
    print(f"\n== bench/quality.py: {len(tasks)} tasks, budget {args.budget_s:g} s per task and contestant, "
          f"{threads} each, {max(1, args.at_once)} contestant(s) at once ==")
    print(text)
    records = [r.to_dict() for row in table.values() for r in row.values()]
    pd.DataFrame([{k: v for k, v in r.items() if k != "details"} for r in records]).to_csv(out / "results.csv", index=False)
    storage.write_json(str(out / "results.json"), {"budget_s": args.budget_s, "threads": args.threads,
                                                   "at_once": max(1, args.at_once), "contestants": contestants,
                                                   "results": records, "report": text})
    return 0


if __name__ == "__main__":
    kill_on_signal()  # a killed bench leaves no contestant running (they lead sessions of their own)
    sys.exit(main())
