"""`linguacodus catalog`: build from task folders, validate, load; every broken task named."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import storage
from actors.errors import ConfigError
from actors.task import Competition
from jobs.catalog import build_catalog, validate_catalog, write_catalog
from jobs.catalog_read import load_catalog
from jobs.cli import main
from tests.helpers.catalogs import SMALL, copy_tasks, edit_meta, reasons_by_task
from tests.helpers.paths import OPEN




def edit_csv(path: Path, fn: Callable[[pd.DataFrame], pd.DataFrame]) -> None:
    fn(pd.read_csv(path)).to_csv(path, index=False)



def test_building_the_open_benchmarks_gives_eleven_valid_rows() -> None:
    rows, problems = build_catalog(str(OPEN))
    assert problems == []
    assert len(rows) == 11 and rows["competition_id"].is_unique
    penguins = Competition(**rows.set_index("competition_id").loc["penguins"].to_dict(),
                           competition_id="penguins")
    assert penguins.target == ["species"] and penguins.metric == "accuracy"
    assert penguins.data_uri == str(OPEN / "penguins")
    assert penguins.answers_uri == str(OPEN / "penguins" / "answers.csv")
    assert penguins.title == "Palmer penguins species" and "## Objective" in penguins.description


# Each breakage: (task to break, how, a reason the report must give for it).
BREAKAGES: dict[str, tuple[str, Callable[[Path], None], str]] = {
    "train-missing": ("penguins", lambda t: (t / "train.csv").unlink(), "train.csv missing"),
    "answers-missing": ("penguins", lambda t: (t / "answers.csv").unlink(), "answers.csv missing"),
    "description-missing": ("penguins", lambda t: (t / "description.md").unlink(), "description.md missing"),
    "meta-missing": ("penguins", lambda t: (t / "meta.json").unlink(), "meta.json missing"),
    "meta-not-json": ("penguins", lambda t: (t / "meta.json").write_text("{target: species"),
                      "meta.json is not valid JSON"),
    "meta-without-metric": ("penguins", lambda t: (t / "meta.json").write_text(json.dumps(
        {"target": "species", "id_column": "id", "task_type": "multiclass"})), "meta.json has no 'metric'"),
    "unknown-metric": ("penguins", lambda t: edit_meta(t, metric="foo"),
                       "unknown metric 'foo' (registered: accuracy, roc_auc"),
    "metric-cannot-grade-task": ("cars-mpg", lambda t: edit_meta(t, metric="roc_auc"),
                                 "metric 'roc_auc' cannot grade task_type 'regression'"),
    "direction-contradicts-metric": ("cars-mpg", lambda t: edit_meta(t, higher_is_better=True),
                                     "meta.json higher_is_better=true contradicts metric 'rmse' (lower is better)"),
    "target-not-in-train": ("penguins", lambda t: edit_meta(t, target="y"), "target 'y' not in train.csv columns"),
    "id-missing-from-test": ("penguins", lambda t: edit_csv(t / "test.csv", lambda d: d.rename(columns={"id": "key"})),
                             "id column 'id' missing from test.csv"),
    "duplicate-test-ids": ("penguins", lambda t: edit_csv(t / "test.csv", lambda d: pd.concat([d, d.head(3)])),
                           "duplicate ids in test.csv (3 duplicated, e.g. 1)"),
    "regression-on-labels": ("penguins", lambda t: edit_meta(t, task_type="regression", metric="rmse",
                                                             higher_is_better=False),
                             "task_type 'regression' inconsistent with target 'species' (non-numeric"),
    "binary-with-three-classes": ("penguins", lambda t: edit_meta(t, task_type="binary"),
                                  ("task_type 'binary' inconsistent with target 'species' "
                                  "(3 classes: Adelie, Chinstrap, Gentoo)")),
    "multiclass-on-continuous": ("cars-mpg", lambda t: edit_meta(t, task_type="multiclass", metric="accuracy",
                                                                 higher_is_better=True),
                                 ("task_type 'multiclass' inconsistent with target 'Miles_per_Gallon' "
                                 "(continuous values")),
    "unreadable-train": ("penguins", lambda t: (t / "train.csv").write_bytes(b"\x89PNG\r\n\x1a\n\x00\xff\xfe"),
                         "unreadable file train.csv: 'utf-8' codec can't decode"),
    "empty-train": ("penguins", lambda t: (t / "train.csv").write_text(""),
                    "unreadable file train.csv: No columns to parse from file"),
    "target-leaks-into-test": ("penguins", lambda t: shutil.copy(t / "answers.csv", t / "test.csv"),
                               "target 'species' is a column of test.csv (the answers would leak)"),
    "answers-miss-a-test-id": ("penguins", lambda t: edit_csv(t / "answers.csv", lambda d: d.iloc[1:]),
                               "answers.csv ids differ from test.csv ids (1 test ids without an answer, e.g. 1;"),
    "two-targets-for-multiclass": ("penguins", lambda t: edit_meta(t, target=["species", "island"]),
                                   "task_type 'multiclass' takes one target column, got 2: species, island"),
    "leaderboard-without-score": ("penguins", lambda t: (t / "leaderboard.csv").write_text("team_id,points\na,1\n"),
                                  "leaderboard.csv has no 'score' column (columns: team_id, points)"),
    # The grader's definition of a usable leaderboard (actors/grading/leaderboard.py), so no row fails at grading time.
    "leaderboard-with-nan": ("penguins", lambda t: (t / "leaderboard.csv").write_text("team_id,score\na,0.5\nb,nan\n"),
                             "leaderboard.csv has 1 missing or infinite scores (e.g. nan in row 1)"),
    "leaderboard-with-inf": ("cars-mpg", lambda t: (t / "leaderboard.csv").write_text("team_id,score\na,inf\nb,2\n"),
                             "leaderboard.csv has 1 missing or infinite scores (e.g. inf in row 0)"),
    "description-not-utf8": ("penguins", lambda t: (t / "description.md").write_bytes(b"# Penguins\n\xff\xfe"),
                             "description.md is not UTF-8 text (byte 0xff at offset 11)"),
}


@pytest.mark.parametrize("breakage", list(BREAKAGES))
def test_a_broken_task_is_reported_by_name_and_the_others_are_still_written(tmp_path: Path, breakage: str) -> None:
    task, breaker, reason = BREAKAGES[breakage]
    copy_tasks(tmp_path)
    breaker(tmp_path / task)
    rows, problems = build_catalog(str(tmp_path))
    by_task = reasons_by_task(problems)
    assert set(by_task) == {task}, by_task
    assert any(r.startswith(reason) for r in by_task[task]), by_task[task]
    assert sorted(rows["competition_id"]) == sorted(set(SMALL) - {task})


def test_tasks_with_and_without_a_leaderboard_make_one_catalog(tmp_path: Path) -> None:
    copy_tasks(tmp_path / "tasks")
    (tmp_path / "tasks" / "penguins" / "leaderboard.csv").write_text("team_id,score\na,0.9\nb,0.8\n")
    rows, problems = build_catalog(str(tmp_path / "tasks"))
    assert problems == []
    write_catalog(rows, str(tmp_path / "c.parquet"))
    boards = pd.read_parquet(tmp_path / "c.parquet").set_index("competition_id")["leaderboard_uri"]
    assert boards["penguins"].endswith("penguins/leaderboard.csv") and boards[["cars-mpg", "breast-cancer"]].isna().all()
    assert validate_catalog(str(tmp_path / "c.parquet")) == []


def test_a_task_with_several_problems_gets_every_reason(tmp_path: Path) -> None:
    copy_tasks(tmp_path, ["penguins"])
    (tmp_path / "penguins" / "meta.json").unlink()
    (tmp_path / "penguins" / "test.csv").unlink()
    (tmp_path / "penguins" / "description.md").write_text("  \n")
    _, problems = build_catalog(str(tmp_path))
    assert [str(p) for p in problems] == [
        "penguins: description.md is empty", "penguins: meta.json missing", "penguins: test.csv missing"]


def test_a_folder_name_that_is_not_a_valid_id_is_reported(tmp_path: Path) -> None:
    copy_tasks(tmp_path, ["penguins"])
    (tmp_path / "penguins").rename(tmp_path / "Penguins_2")
    rows, problems = build_catalog(str(tmp_path))
    assert [str(p) for p in problems] == ["Penguins_2: competition_id 'Penguins_2' must match [a-z0-9-]+"]
    assert rows.empty and list(rows.columns)[:2] == ["competition_id", "title"]


def test_stray_files_and_hidden_folders_next_to_tasks_are_not_tasks(tmp_path: Path) -> None:
    copy_tasks(tmp_path, ["penguins"])
    (tmp_path / "README.md").write_text("tasks")
    (tmp_path / ".cache").mkdir()
    rows, problems = build_catalog(str(tmp_path))
    assert problems == [] and list(rows["competition_id"]) == ["penguins"]


def test_a_missing_folder_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="is not a folder"):
        build_catalog(str(tmp_path / "nope"))
    with pytest.raises(ConfigError, match="holds no task folders"):
        build_catalog(str(tmp_path))
    assert main(["catalog", "build", str(tmp_path / "nope"), "-o", str(tmp_path / "c.parquet")]) == 1
    assert not (tmp_path / "c.parquet").exists()


def test_cli_build_lists_each_problem_on_its_own_line_and_exits_2(tmp_path: Path, capsys) -> None:
    copy_tasks(tmp_path / "tasks")
    (tmp_path / "tasks" / "penguins" / "train.csv").unlink()
    edit_meta(tmp_path / "tasks" / "cars-mpg", metric="foo")
    out = tmp_path / "out" / "catalog.parquet"
    assert main(["catalog", "build", str(tmp_path / "tasks"), "-o", str(out)]) == 2
    lines = capsys.readouterr().out.splitlines()
    assert "INVALID penguins: train.csv missing" in lines
    assert any(line.startswith("INVALID cars-mpg: unknown metric 'foo'") for line in lines)
    assert lines[-1] == f"catalog: 1 valid rows written to {out}; 2 competitions invalid"
    assert list(pd.read_parquet(out)["competition_id"]) == ["breast-cancer"]


def test_cli_build_then_validate_through_the_installed_command(tmp_path: Path) -> None:
    exe = Path(sys.executable).parent / "linguacodus"
    assert exe.exists(), "install the package first: .venv/bin/pip install -e . --no-deps"
    out = tmp_path / "c.parquet"
    build = subprocess.run([str(exe), "catalog", "build", str(OPEN), "-o", str(out)],
                           capture_output=True, text=True, timeout=120, check=False)
    assert build.returncode == 0, build.stdout + build.stderr
    assert pq.read_table(out).num_rows == 11
    check = subprocess.run([str(exe), "catalog", "validate", str(out)], capture_output=True, text=True, timeout=120, check=False)
    assert check.returncode == 0 and "valid" in check.stdout, check.stdout + check.stderr


def test_validate_finds_rows_whose_files_broke_after_the_build(tmp_path: Path, capsys) -> None:
    copy_tasks(tmp_path / "tasks")
    rows, _ = build_catalog(str(tmp_path / "tasks"))
    write_catalog(rows, str(tmp_path / "c.parquet"))
    assert validate_catalog(str(tmp_path / "c.parquet")) == []
    (tmp_path / "tasks" / "cars-mpg" / "test.csv").unlink()
    edit_csv(tmp_path / "tasks" / "penguins" / "answers.csv", lambda d: pd.concat([d, d.head(2)]))
    problems = [str(p) for p in validate_catalog(str(tmp_path / "c.parquet"))]
    assert "cars-mpg: test.csv missing" in problems
    assert "penguins: duplicate ids in answers.csv (2 duplicated, e.g. 1)" in problems
    assert main(["catalog", "validate", str(tmp_path / "c.parquet")]) == 2
    assert "INVALID cars-mpg: test.csv missing" in capsys.readouterr().out


def _write_rows(path: Path, rows: list[dict], schema: pa.Schema | None = None) -> str:
    pq.write_table(pa.Table.from_pylist(rows, schema=schema), path)
    return str(path)


def _row(**changes: object) -> dict:
    row = {"competition_id": "penguins", "title": "P", "description": "d", "metric": "accuracy",
           "task_type": "multiclass", "data_type": "tabular", "target": ["species"], "id_column": "id",
           "data_uri": str(OPEN / "penguins"), "answers_uri": str(OPEN / "penguins" / "answers.csv"),
           "leaderboard_uri": None}
    return row | changes


def test_validate_reports_schema_problems_of_the_catalog_itself(tmp_path: Path) -> None:
    no_metric = {k: v for k, v in _row().items() if k != "metric"}
    problems = validate_catalog(_write_rows(tmp_path / "a.parquet", [no_metric]))
    assert [str(p) for p in problems] == ["(catalog): required column 'metric' missing"]
    problems = validate_catalog(_write_rows(tmp_path / "b.parquet", [_row(target="species")]))
    assert [str(p) for p in problems] == ["(catalog): column 'target' has type string, expected list<item: string>"]
    assert next(str(p) for p in validate_catalog(str(tmp_path / "missing.parquet"))).startswith(
        "(catalog): cannot read catalog")


def test_validate_reports_invalid_and_duplicate_rows(tmp_path: Path) -> None:
    uri = _write_rows(tmp_path / "c.parquet", [_row(), _row(), _row(competition_id="x", metric="foo")])
    problems = [str(p) for p in validate_catalog(uri)]
    assert "penguins: duplicate competition_id (2 rows)" in problems
    assert any(p.startswith("x: unknown metric 'foo'") for p in problems)


def test_load_catalog_returns_competitions_and_refuses_invalid_rows(tmp_path: Path) -> None:
    good = _write_rows(tmp_path / "good.parquet", [_row(), _row(competition_id="p2")])
    assert [c.competition_id for c in load_catalog(good)] == ["penguins", "p2"]
    bad = _write_rows(tmp_path / "bad.parquet", [_row(), _row(competition_id="x", task_type="ranking")])
    with pytest.raises(ConfigError, match="x: unknown task_type 'ranking'"):
        load_catalog(bad)


def test_build_and_validate_from_an_s3_folder(s3_bucket: str, tmp_path: Path) -> None:
    for name in ("penguins", "cars-mpg"):
        for f in (OPEN / name).iterdir():
            storage.copy(f, storage.join(s3_bucket, "tasks", name, f.name))
    storage.delete(storage.join(s3_bucket, "tasks", "cars-mpg", "answers.csv"))
    rows, problems = build_catalog(storage.join(s3_bucket, "tasks"))
    assert [str(p) for p in problems] == ["cars-mpg: answers.csv missing"]
    assert list(rows["data_uri"]) == [f"{s3_bucket}/tasks/penguins"]
    write_catalog(rows, storage.join(s3_bucket, "catalog.parquet"))
    assert validate_catalog(storage.join(s3_bucket, "catalog.parquet")) == []
    assert load_catalog(storage.join(s3_bucket, "catalog.parquet"))[0].answers_uri == \
        f"{s3_bucket}/tasks/penguins/answers.csv"


def test_validate_on_a_missing_bucket_is_one_error_line_naming_the_bucket(s3_env: object, capsys) -> None:
    assert main(["catalog", "validate", "s3://no-such-catalog-bucket/catalog.parquet"]) == 1
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 1 and out[0].startswith("error: cannot read catalog: s3://no-such-catalog-bucket/")
    assert "bucket 'no-such-catalog-bucket' does not exist" in out[0]
