"""`linguacodus corpus from-runs` on a real run folder: `linguacodus run` with the replay backend over
an empty cache, so the real job, sandbox, floor and grader make graded rows without a model."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest

import storage
from actors.corpus import CORPUS_SCHEMA, corpus_table, validate_corpus
from jobs.cli import main as cli
from jobs.config import RunConfig
from jobs.corpus import from_runs
from tests.helpers.paths import OPEN

pytestmark = [pytest.mark.sandbox]


def catalog_row(task: str, **over: object) -> dict:
    folder = OPEN / task
    meta = json.loads((folder / "meta.json").read_text())
    row = {"competition_id": task, "title": task.title(), "description": (folder / "description.md").read_text(),
           "metric": meta["metric"], "task_type": meta["task_type"], "data_type": "tabular",
           "target": [meta["target"]], "id_column": meta["id_column"], "data_uri": str(folder),
           "answers_uri": str(folder / "answers.csv"), "leaderboard_uri": None}
    return row | over


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """OUT/RUN_ID of a real run: penguins and cars-mpg graded by the floor, one invalid catalog row skipped."""
    import ray

    from actors.llm.base import LLMConfig
    from jobs.run import run

    root = tmp_path_factory.mktemp("corpus-run")
    (root / "cache").mkdir()
    pd.DataFrame([catalog_row("penguins"), catalog_row("cars-mpg"),
                  catalog_row("diabetes-progression", metric="no-such-metric")]).to_parquet(root / "catalog.parquet")
    config = RunConfig(catalog=str(root / "catalog.parquet"), out=str(root / "out"), run_id="r1", concurrency=1,
                       llm=LLMConfig(backend="replay", cache_dir=str(root / "cache")),
                       executor={"max_fix": 0}, search={"enabled": False})
    try:
        run(config)
    finally:
        ray.shutdown()
    return root / "out" / "r1"


def copy_run(run_dir: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(run_dir, tmp_path / "r1"))


def test_graded_competitions_become_corpus_rows_with_their_code_score_and_task(run_dir):
    rows, skipped = from_runs([str(run_dir)])
    results = pd.read_parquet(run_dir / "results.parquet").set_index("competition_id")
    by_id = {r["competition_id"]: r for r in rows}
    assert sorted(by_id) == ["cars-mpg", "penguins"]
    for cid, row in by_id.items():
        assert row["score"] == results.loc[cid, "score"] and row["code"] == (run_dir / cid / "solution.py").read_text()
        assert row["description"] == (OPEN / cid / "description.md").read_text()
        assert row["source"] == "floor" and row["solution_id"] == str(run_dir / cid) and row["data_type"] == "tabular"
        assert row["facts"].startswith("train.csv: ")  # the run's data facts, for the pair prompt
    assert (by_id["penguins"]["metric"], by_id["penguins"]["higher_is_better"]) == ("accuracy", True)
    assert (by_id["cars-mpg"]["metric"], by_id["cars-mpg"]["higher_is_better"]) == ("rmse", False)
    valid, problems = validate_corpus(corpus_table(rows).to_pandas())
    assert problems == [] and len(valid) == 2


def test_a_competition_without_a_score_is_skipped_with_its_reason(run_dir):
    _, skipped = from_runs([str(run_dir)])
    assert [(s.competition_id, s.run) for s in skipped] == [("diabetes-progression", str(run_dir))]
    assert skipped[0].reason.startswith("no score (status skipped): invalid catalog row")
    assert "no-such-metric" in skipped[0].reason


def test_a_competition_without_solution_py_is_skipped_and_llm_written_rows_are_marked(run_dir, tmp_path):
    run = copy_run(run_dir, tmp_path)
    (run / "cars-mpg" / "solution.py").unlink()
    results = pd.read_parquet(run / "results.parquet")
    results.loc[results["competition_id"] == "penguins", "fallback_used"] = False  # as if the LLM path won
    results.to_parquet(run / "results.parquet")
    rows, skipped = from_runs([str(run)])
    assert [(r["competition_id"], r["source"]) for r in rows] == [("penguins", "linguacodus-llm")]
    reasons = {s.competition_id: s.reason for s in skipped}
    assert reasons["cars-mpg"] == f"no solution.py at {run / 'cars-mpg' / 'solution.py'}"


def test_a_moved_catalog_skips_every_row_with_the_reason_until_it_is_given(run_dir, tmp_path):
    run = copy_run(run_dir, tmp_path)
    info = json.loads((run / "run.json").read_text())
    catalog = info["config"]["catalog"]
    info["config"]["catalog"] = str(tmp_path / "moved.parquet")
    (run / "run.json").write_text(json.dumps(info))
    rows, skipped = from_runs([str(run)])
    assert rows == [] and len(skipped) == 3
    graded = [s for s in skipped if s.competition_id != "diabetes-progression"]
    assert len(graded) == 2 and all("unreadable" in s.reason and "pass --catalog" in s.reason for s in graded)
    rows, _ = from_runs([str(run)], catalog=catalog)
    assert len(rows) == 2


def test_a_folder_that_is_not_a_run_is_reported_not_ignored(tmp_path):
    rows, skipped = from_runs([str(tmp_path)])
    assert rows == [] and skipped[0].reason.startswith("no results.parquet")


def test_cli_writes_the_corpus_and_its_skipped_list_and_says_how_many_of_each(run_dir, tmp_path, capsys):
    out = tmp_path / "corpus.parquet"
    assert cli(["corpus", "from-runs", str(run_dir), f"{run_dir}/", "-o", str(out)]) == 0
    printed = " ".join(capsys.readouterr().out.split())
    assert "2 rows written" in printed and "0 linguacodus-llm, 2 floor" in printed and "2 skipped" in printed
    corpus = storage.read_parquet_table(str(out))
    assert corpus.schema.equals(CORPUS_SCHEMA) and corpus.num_rows == 2
    skipped = json.loads((tmp_path / "corpus.skipped.json").read_text())
    assert [s["competition_id"] for s in skipped] == ["diabetes-progression", "*"]
    assert skipped[0]["reason"].startswith("no score") and skipped[1]["reason"].startswith("run given twice")
    assert cli(["corpus", "validate", str(out)]) == 0
