"""The open benchmark tasks (../shared/benchmarks/open) as catalog rows, Competitions and task contexts."""
from __future__ import annotations

import json

import pandas as pd

from actors.context import TaskContext
from actors.facts import compute_facts
from actors.task import Competition
from tests.helpers.paths import OPEN

TASKS = sorted(p.name for p in OPEN.iterdir() if p.is_dir())


def catalog_row(task: str, **over: object) -> dict:
    folder = OPEN / task
    meta = json.loads((folder / "meta.json").read_text())
    row = {"competition_id": task, "title": task, "description": (folder / "description.md").read_text(),
           "metric": meta["metric"], "task_type": meta["task_type"], "data_type": "tabular",
           "target": [meta["target"]], "id_column": meta["id_column"], "data_uri": str(folder),
           "answers_uri": str(folder / "answers.csv"), "leaderboard_uri": None}
    return row | over


def competition(task: str, **over: object) -> Competition:
    return Competition(**catalog_row(task, **over))


def context(task: str) -> TaskContext:
    """What the stages know about an open task: its catalog row and the facts of its data."""
    comp = competition(task)
    return TaskContext(comp, compute_facts(comp, pd.read_csv(OPEN / task / "train.csv"),
                                           pd.read_csv(OPEN / task / "test.csv")))
