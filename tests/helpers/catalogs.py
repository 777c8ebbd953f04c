"""Catalogs and task folders for tests: written from rows, copied from the open tasks."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd

from tests.helpers.paths import OPEN


def write_catalog(path: Path, rows: list[dict]) -> str:
    pd.DataFrame(rows).to_parquet(path)
    return str(path)


def run_args(catalog: str, out: Path, run_id: str, cache: Path, *extra: str) -> list[str]:
    cache.mkdir(exist_ok=True)
    return ["run", "--catalog", catalog, "--out", str(out), "--run-id", run_id, "--replay",
            "--cache-dir", str(cache), "--concurrency", "1", "--max-fix", "0", "--search", "off", *extra]


SMALL = ["penguins", "cars-mpg", "breast-cancer"]  # one multiclass, one regression, one binary


def copy_tasks(dest: Path, names: list[str] = SMALL) -> Path:
    for name in names:
        shutil.copytree(OPEN / name, dest / name)
    return dest


def edit_meta(task: Path, **changes: object) -> None:
    meta = json.loads((task / "meta.json").read_text())
    meta.update(changes)
    (task / "meta.json").write_text(json.dumps(meta))


def reasons_by_task(problems) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for p in problems:
        out.setdefault(p.competition_id, []).append(p.reason)
    return out


AWS_VARS = ("AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_REGION", "AWS_DEFAULT_REGION")


def one_task_catalog(tmp_path: Path, bucket: str, tasks: tuple[str, ...] = ("penguins",)) -> str:
    """A catalog in S3 over temp copies of open tasks (data stays local: the sandbox binds it)."""
    from jobs.catalog import build_catalog, write_catalog

    root = tmp_path / "tasks"
    for task in tasks:
        shutil.copytree(OPEN / task, root / task)
        for p in (root / task).iterdir():
            p.chmod(0o644)
    rows, problems = build_catalog(str(root))
    assert problems == [] and len(rows) == len(tasks)
    uri = f"{bucket}/catalogs/open.parquet"
    write_catalog(rows, uri)
    return uri
