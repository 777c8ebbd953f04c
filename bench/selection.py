"""Which final-selection rule gives the better test score: the best single trial, the Caruana ensemble
whenever its out-of-fold score is higher (actors/search/select.py's rule), or the ensemble only when
the selection itself wins a nested cross-validation (measured here, not adopted: see the README)?

For each competition of finished runs (OUT/RUN with search.json per task, run in search or
linguacodus mode), the top-K completed trials by CV score are run again in the real sandbox as full
programs (the run's folds and seed: the same out-of-fold rows as during the search; then the refit
on all of train, predicting test). Then, on those out-of-fold and test predictions:
- single: the member with the best out-of-fold score;
- caruana: Caruana selection with replacement over all rows, taken when its score beats the single;
- nested: the same Caruana selection, taken only when, over 5 outer folds of the out-of-fold rows,
  the ensemble selected on 4 folds scores better on the 5th than the single selected on those 4
  (mean over the outer folds). Its weights are then the all-rows selection's.
- diverse: the caruana rule over a pool of the best trial of each program shape (estimator,
  preprocessing, fit option) first, then the next best (the warm starts' rule, run.split_repeats),
  instead of the top K (measured, not adopted: see the README).
Each rule's test predictions (the members' raw test predictions, weighted) are graded against the
private answers with the project's metric functions. Nothing here tunes anything: it measures.

Run: .venv/bin/python bench/selection.py --runs OUT/RUN [OUT/RUN ...] [--top 5] [--limit N] [--out DIR]"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout, installed or not
from actors.context import TaskContext
from actors.facts import compute_facts
from actors.harness.integrate import assemble
from actors.sandbox.sandbox import Sandbox, SandboxConfig
from actors.search.ensemble import align, caruana, score_raw
from actors.search.run import WarmStart, split_repeats
from actors.search.space import ProgramConfig, render_config
from actors.task import Competition
from jobs.catalog_read import load_catalog


def tasks_of(run: Path) -> list[tuple[Competition, dict, dict]]:
    """(competition, search.json, run config) of every task of a run that has a search record."""
    info = json.loads((run / "run.json").read_text())
    out = []
    for comp in load_catalog(info["config"]["catalog"]):
        search = run / comp.competition_id / "search.json"
        if search.is_file() and comp.answers_uri:
            out.append((comp, json.loads(search.read_text()), info["config"]))
    return out


def member(ctx: TaskContext, constants: dict, program: dict, work: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(oof_raw, test_raw) of one program, run in full in the sandbox (cached in `work`)."""
    if not (work / "test_raw.csv").is_file():
        work.mkdir(parents=True, exist_ok=True)
        (work / "solution.py").write_text(assemble(constants, render_config(ctx, ProgramConfig.model_validate(program))))
        data = Path(ctx.competition.data_uri)
        result = Sandbox(SandboxConfig(timeout_s=1800)).run(
            work / "solution.py", work, {n: data / n for n in ("train.csv", "test.csv")})
        if not result.ok:
            raise RuntimeError(f"{result.killed_reason}: {result.stderr[-600:]}")
    id_col = ctx.competition.id_column
    return (pd.read_csv(work / "oof_raw.csv", dtype={id_col: str}),
            pd.read_csv(work / "test_raw.csv", dtype={id_col: str}))


def nested_check(preds: list[np.ndarray], score, y: np.ndarray, higher_is_better: bool, rounds: int = 25,
                 folds: int = 5, seed: int = 0) -> tuple[float, float]:
    """(ensemble, single): the mean outer-fold scores of two selection rules, each selecting on the
    other folds' rows (Caruana's weights; the best single) and scored on rows it did not select on."""
    order = np.random.default_rng(seed).permutation(len(y))
    ens, single = [], []
    for k in range(folds):
        held = np.zeros(len(y), dtype=bool)
        held[order[k::folds]] = True
        y_fit, y_held = y[~held], y[held]
        weights, _, singles = caruana([p[~held] for p in preds], lambda p, t=y_fit: score(p, t), higher_is_better,
                                      rounds)
        best = int(np.argmax(singles) if higher_is_better else np.argmin(singles))
        ens.append(score(sum(w * p[held] for w, p in zip(weights, preds, strict=True)), y_held))
        single.append(score(preds[best][held], y_held))
    return float(np.mean(ens)), float(np.mean(single))


def measure(comp: Competition, search: dict, config: dict, top: int, rounds: int, cache: Path) -> dict:
    folder = Path(comp.data_uri)
    train = pd.read_csv(folder / "train.csv", dtype={comp.id_column: str})
    test = pd.read_csv(folder / "test.csv", dtype={comp.id_column: str})
    ctx = TaskContext(comp, compute_facts(comp, train, test))
    hib, classes = ctx.higher_is_better, list(ctx.facts.classes)
    constants = ctx.harness_constants(config.get("seed", 0), folds=config["search"]["folds"])
    done = [t for t in search["trials"] if t["status"] == "completed" and t.get("cv_score") is not None]
    done.sort(key=lambda t: t["cv_score"], reverse=hib)
    seen, chosen = set(), []
    for t in done:  # distinct programs only (a repeated point is the same member twice)
        key = json.dumps(t["program"], sort_keys=True)
        if key not in seen:
            seen.add(key)
            chosen.append(t)
    # the pool by shape: the best of each estimator/preprocessing/fit option first, then the next best
    # (the search's own rule for warm starts, actors/search/run.py split_repeats)
    by_id = {t["trial_id"]: t for t in chosen}
    firsts, rest = split_repeats([WarmStart(t["trial_id"], ProgramConfig.model_validate(t["program"])) for t in chosen])
    shapes = len(firsts)
    diverse, chosen = [by_id[w.source] for w in (firsts + rest)[:top]], chosen[:top]
    runs = {t["trial_id"]: member(ctx, constants, t["program"], cache / comp.competition_id / t["trial_id"])
            for t in chosen + diverse}
    truth = train[[comp.id_column, *comp.target]]
    answers = pd.read_csv(comp.answers_uri, dtype={comp.id_column: str})

    def score(p: np.ndarray, truth_: np.ndarray) -> float:
        return score_raw(p, truth_, comp.metric, classes)

    def select(pool: list[dict]) -> tuple:
        """Caruana over `pool`: (oof, y, tests, y_test, weights, ensemble OOF score, singles, best, take),
        take: whether the all-rows rule takes the ensemble."""
        oof_, y_ = align([runs[t["trial_id"]][0] for t in pool], truth, comp.id_column, list(comp.target))
        tests_, y_test_ = align([runs[t["trial_id"]][1] for t in pool], answers, comp.id_column, list(comp.target))
        w_, ens_, singles_ = caruana(oof_, lambda p: score(p, y_), hib, rounds)
        b_ = int(np.argmax(singles_) if hib else np.argmin(singles_))
        take = (ens_ > singles_[b_] if hib else ens_ < singles_[b_]) and int((w_ > 0).sum()) >= 2
        return oof_, y_, tests_, y_test_, w_, ens_, singles_, b_, take

    _, _, d_tests, d_y_test, d_weights, d_ens, d_singles, d_best, diverse_took = select(diverse)
    diverse_oof = d_ens if diverse_took else d_singles[d_best]
    diverse_test = score(sum(w * t for w, t in zip(d_weights, d_tests)) if diverse_took else d_tests[d_best], d_y_test)
    oof, y, tests, y_test, weights, ens_oof, singles, best, use_ens = select(chosen)
    nested_e, nested_s = nested_check(oof, score, y, hib, rounds)
    nested_ens = nested_e > nested_s if hib else nested_e < nested_s
    blend = sum(w * t for w, t in zip(weights, tests))
    test_single, test_ens = score(tests[best], y_test), score(blend, y_test)
    return {"task": comp.competition_id, "metric": comp.metric, "hib": hib, "members": len(chosen),
            "rows": len(y), "oof_single": singles[best], "oof_ensemble": ens_oof,
            "nested_single": nested_s, "nested_ensemble": nested_e,
            "test_single": test_single, "test_ensemble": test_ens,
            "test_caruana": test_ens if use_ens else test_single,
            "test_nested": test_ens if use_ens and nested_ens else test_single,
            "shapes": shapes, "oof_diverse": diverse_oof, "test_diverse": diverse_test,
            "diverse_took_ensemble": diverse_took}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--runs", nargs="+", type=Path, required=True, help="run folders (OUT/RUN_ID)")
    p.add_argument("--top", type=int, default=5, help="members offered to the ensemble (the search's ensemble_top)")
    p.add_argument("--rounds", type=int, default=25, help="Caruana rounds (the search's ensemble_rounds)")
    p.add_argument("--limit", type=int, default=None, help="at most this many tasks per run (catalog order)")
    p.add_argument("--out", type=Path, default=Path("bench-results/selection"))
    args = p.parse_args()
    rows = []
    for run in args.runs:
        for comp, search, config in tasks_of(run)[:args.limit]:
            try:
                row = measure(comp, search, config, args.top, args.rounds, args.out / "members")
            except Exception as exc:  # noqa: BLE001 - one task's failure is a line, not the end of the bench
                print(f"{comp.competition_id}: skipped: {type(exc).__name__}: {str(exc)[:300]}", flush=True)
                continue
            rows.append(row)
            print(" ".join(f"{k}={v:.5g}" if isinstance(v, float) else f"{k}={v}" for k, v in row.items()), flush=True)
    if not rows:
        sys.exit("error: no task measured")
    df = pd.DataFrame(rows)
    args.out.mkdir(parents=True, exist_ok=True)
    df.to_csv(args.out / "selection.csv", index=False)

    def wins(a: str, b: str) -> tuple[int, int]:
        up = df["hib"].to_numpy()
        d = np.where(up, df[a] - df[b], df[b] - df[a])
        return int((d > 1e-12).sum()), int((d < -1e-12).sum())

    print(f"\n{len(df)} tasks; test score of each rule (wins / losses of the first named):")
    for a, b in (("test_caruana", "test_single"), ("test_nested", "test_single"), ("test_nested", "test_caruana"),
                 ("test_ensemble", "test_single"), ("test_diverse", "test_caruana"), ("test_diverse", "test_single"),
                 ("oof_diverse", "oof_ensemble")):
        w, lost = wins(a, b)
        print(f"  {a} vs {b}: {w} better, {lost} worse, {len(df) - w - lost} equal")
    print(f"  the nested rule took the ensemble on {int((df['test_nested'] != df['test_single']).sum())} tasks, "
          f"the all-rows rule on {int((df['test_caruana'] != df['test_single']).sum())}")


if __name__ == "__main__":
    main()
