"""One competition folder in the SPEC layout, written the way ../shared/benchmarks/build_open.py
writes the open tasks: an added id column, a seeded 75/25 split (stratified for classification),
train.csv with the target, test.csv without it, answers.csv (id + target), meta.json, description.md
and, when given, leaderboard.csv.

The folder appears all at once (written under a hidden temporary name, then renamed), so a build
that is killed half-way never leaves a task that looks complete: builders resume by skipping the
folders that exist with the same seed.
"""
from __future__ import annotations

import json
import logging
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from actors.grading.metrics import get_metric

log = logging.getLogger(__name__)
TEST_SIZE = 0.25


@dataclass(frozen=True)
class TaskSpec:
    """What a task folder needs besides its data: names, the target and how it is scored."""

    name: str  # the folder and competition id, [a-z0-9-]+
    title: str
    target: str
    task_type: str
    metric: str
    data_type: str = "tabular"
    id_column: str = "id"
    meta: dict = field(default_factory=dict)  # extra meta.json fields: source, license, notes ...

    @property
    def higher_is_better(self) -> bool:
        return get_metric(self.metric).higher_is_better


def free_id_column(columns: list[str]) -> str:
    """`id`, unless the data has a column of that name already."""
    name = "id"
    while name in columns:
        name = f"row_{name}"
    return name


def split(frame: pd.DataFrame, spec: TaskSpec, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(train, test) with the id column first, both sorted by id."""
    from sklearn.model_selection import train_test_split

    frame = frame.reset_index(drop=True)
    frame.insert(0, spec.id_column, np.arange(len(frame)))
    stratify = frame[spec.target] if spec.task_type in ("binary", "multiclass") else None
    train, test = train_test_split(frame, test_size=TEST_SIZE, random_state=seed, stratify=stratify)
    return train.sort_values(spec.id_column), test.sort_values(spec.id_column)


def submission_format(spec: TaskSpec, positive: str = "1") -> str:
    if spec.metric == "roc_auc":
        return f"{spec.id_column},{spec.target}\n<id>,<probability that {spec.target} is {positive}>"
    if spec.metric == "multiclass_log_loss":
        return f"{spec.id_column},<one column per class label>\n<id>,<probability of each class>"
    if spec.task_type == "regression":
        return f"{spec.id_column},{spec.target}\n<id>,<predicted value>"
    return f"{spec.id_column},{spec.target}\n<id>,<predicted class label>"


def is_built(folder: Path, seed: int) -> bool:
    """A complete folder from an earlier build with the same seed."""
    meta = folder / "meta.json"
    if not meta.is_file():
        return False
    try:
        return json.loads(meta.read_text()).get("split", {}).get("random_state") == seed
    except (json.JSONDecodeError, OSError):
        return False


def _one_kind_of_line_break(frame: pd.DataFrame) -> pd.DataFrame:
    """Text with "\r\n" or a bare "\r" as "\n". pandas quotes a field that holds "\n" but writes a bare
    "\r" unquoted, and its reader ends the row there: 7 tweets of trump-tweet-device became 4 extra
    rows, and favorite_count text (its numbers read as categories, by every contestant)."""
    out = frame.copy()
    for c in out.columns:
        if out[c].dtype == object or pd.api.types.is_string_dtype(out[c]):
            out[c] = out[c].map(lambda v: v.replace("\r\n", "\n").replace("\r", "\n") if isinstance(v, str) else v)
    return out


def write_task(out: Path, spec: TaskSpec, frame: pd.DataFrame, description: Callable[[pd.DataFrame, pd.DataFrame], str],
               seed: int, leaderboard: Callable[[pd.DataFrame, pd.DataFrame, pd.DataFrame], pd.DataFrame] | None = None
               ) -> Path:
    """Split frame and write OUT/spec.name/ atomically. `description(train, test)` gives description.md;
    `leaderboard(train, test, answers)` the leaderboard rows (team_id, score)."""
    train, test = split(_one_kind_of_line_break(frame), spec, seed)
    answers = test[[spec.id_column, spec.target]]
    final = out / spec.name
    tmp = out / f".tmp-{spec.name}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    train.to_csv(tmp / "train.csv", index=False)
    test.drop(columns=[spec.target]).to_csv(tmp / "test.csv", index=False)
    answers.to_csv(tmp / "answers.csv", index=False)
    for name, rows in (("train.csv", len(train)), ("test.csv", len(test)), ("answers.csv", len(answers))):
        if (read := len(pd.read_csv(tmp / name))) != rows:  # what every reader downstream does
            raise ValueError(f"{spec.name}: {name} reads back as {read} rows, not the {rows} written")
    (tmp / "description.md").write_text(description(train, test))
    if leaderboard is not None:
        board = leaderboard(train, test.drop(columns=[spec.target]), answers)
        board.to_csv(tmp / "leaderboard.csv", index=False)
    features = [c for c in frame.columns if c != spec.target]
    meta = {"target": spec.target, "metric": spec.metric, "higher_is_better": spec.higher_is_better,
            "id_column": spec.id_column, "task_type": spec.task_type, "data_type": spec.data_type,
            "title": spec.title, **spec.meta, "n_train": len(train), "n_test": len(test),
            "n_features": len(features),
            "missing_values_in_features": int(frame[features].isna().sum().sum()),
            "split": {"method": "sklearn.model_selection.train_test_split", "test_size": TEST_SIZE,
                      "random_state": seed, "stratified": spec.task_type in ("binary", "multiclass")}}
    (tmp / "meta.json").write_text(json.dumps(meta, indent=2, default=str) + "\n")
    if final.exists():
        shutil.rmtree(final)
    os.replace(tmp, final)
    log.info("%s: wrote %d train / %d test rows", spec.name, len(train), len(test))
    return final
