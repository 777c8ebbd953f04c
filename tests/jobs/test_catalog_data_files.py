"""The optional catalog column data_files (meta.json "data_files"): the extra inputs generated code may
read. Built, written, loaded back; a bad declaration is reported by name like any other problem."""
from __future__ import annotations

import pyarrow.parquet as pq
import pytest

from jobs.catalog import build_catalog, validate_catalog, write_catalog
from jobs.catalog_read import load_catalog
from tests.helpers.catalogs import copy_tasks, edit_meta, reasons_by_task


def test_declared_data_files_survive_build_write_and_load(tmp_path) -> None:
    tasks = copy_tasks(tmp_path / "tasks", ["penguins", "cars-mpg"])
    (tasks / "penguins" / "extra").mkdir()
    (tasks / "penguins" / "extra" / "notes.txt").write_text("x")
    edit_meta(tasks / "penguins", data_files=["extra"])
    rows, problems = build_catalog(str(tasks))
    assert problems == []
    write_catalog(rows, str(tmp_path / "catalog.parquet"))
    by_id = {c.competition_id: c for c in load_catalog(str(tmp_path / "catalog.parquet"))}
    assert by_id["penguins"].data_files == ["extra"] and by_id["cars-mpg"].data_files is None
    assert validate_catalog(str(tmp_path / "catalog.parquet")) == []


def test_a_catalog_written_before_the_column_existed_still_loads(tmp_path) -> None:
    rows, _ = build_catalog(str(copy_tasks(tmp_path / "tasks", ["penguins"])))
    write_catalog(rows, str(tmp_path / "catalog.parquet"))
    table = pq.read_table(tmp_path / "catalog.parquet").drop(["data_files"])
    pq.write_table(table, tmp_path / "old.parquet")
    assert validate_catalog(str(tmp_path / "old.parquet")) == []
    assert load_catalog(str(tmp_path / "old.parquet"))[0].data_files is None


@pytest.mark.parametrize(("declared", "reason"), [
    ("extra", "meta.json data_files must be a list of file or folder names, got 'extra'"),
    (["../penguins"], "meta.json data_files must be a list of file or folder names"),
    (["extra.csv"], "data_files entry 'extra.csv' not found in data_uri"),
    (["answers.csv"], "data_files entry 'answers.csv' is, holds or lies inside the answers or leaderboard"),
])
def test_a_bad_data_files_declaration_is_reported_by_task(tmp_path, declared, reason) -> None:
    tasks = copy_tasks(tmp_path, ["penguins", "cars-mpg"])
    edit_meta(tasks / "penguins", data_files=declared)
    rows, problems = build_catalog(str(tasks))
    by_task = reasons_by_task(problems)
    assert set(by_task) == {"penguins"} and any(r.startswith(reason) for r in by_task["penguins"]), by_task
    assert list(rows["competition_id"]) == ["cars-mpg"]
