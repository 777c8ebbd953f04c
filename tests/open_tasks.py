"""The open benchmark tasks (../shared/benchmarks/open) as catalog rows and Competition objects."""
from __future__ import annotations

import json
from pathlib import Path

from actors.task import Competition

OPEN = Path(__file__).resolve().parents[2] / "shared" / "benchmarks" / "open"


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
