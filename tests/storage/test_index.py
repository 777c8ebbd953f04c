"""The index of runs under OUT/_index/, as consumers read it: pyarrow.dataset and Ray Data straight
from the files, `linguacodus results` to list and compare, and a rebuild for runs from older versions."""
from __future__ import annotations

import csv
import io
import json
import shutil
from pathlib import Path

import pyarrow as pa
import pyarrow.dataset as ds
import pytest

import storage
from jobs.cli import main as cli
from storage import index
from tests.helpers.example_runs import EXAMPLE_TASK, ExampleRuns

pytestmark = [pytest.mark.slow, pytest.mark.sandbox]


def test_every_run_carries_the_schema_version_into_run_json_and_the_index(example_runs: ExampleRuns) -> None:
    for run_id in (example_runs.staged, example_runs.vanilla):
        assert json.loads((example_runs.out / run_id / "run.json").read_text())["schema_version"] == \
            storage.RESULTS_SCHEMA_VERSION
        assert (example_runs.out / "_index" / "results" / f"run_id={run_id}" / "part-0.parquet").exists()
    runs = index.read_runs(str(example_runs.out)).to_pylist()
    assert sorted(r["run_id"] for r in runs) == ["staged", "vanilla"]
    assert {r["schema_version"] for r in runs} == {storage.RESULTS_SCHEMA_VERSION}
    assert {r["mode"] for r in runs} == {"linguacodus", "vanilla"} and all(r["complete"] for r in runs)


def test_pyarrow_reads_the_results_index_as_one_hive_partitioned_dataset(example_runs: ExampleRuns) -> None:
    dataset = ds.dataset(str(example_runs.out / "_index" / "results"), format="parquet", partitioning="hive")
    table = dataset.to_table()
    assert table.num_rows == 2 and {"run_id", "competition_id", "status", "score", "schema_version"} <= set(
        table.column_names)
    assert sorted(table.column("run_id").to_pylist()) == ["staged", "vanilla"]
    assert set(table.column("competition_id").to_pylist()) == {EXAMPLE_TASK}
    one = dataset.to_table(filter=ds.field("run_id") == "vanilla")
    assert one.num_rows == 1 and one.column("mode").to_pylist() == ["vanilla"]
    per_run = {r["run_id"]: r for r in table.to_pylist()}
    results = storage.read_parquet(str(example_runs.out / "staged" / "results.parquet")).iloc[0]
    assert per_run["staged"]["status"] == results["status"] and per_run["staged"]["attempts"] == results["attempts"]


def test_ray_data_reads_the_results_index(example_runs: ExampleRuns, ray_session: None) -> None:
    import ray
    import ray.data

    ray.init(num_cpus=1, include_dashboard=False, ignore_reinit_error=True)
    rows = ray.data.read_parquet(str(example_runs.out / "_index" / "results")).take_all()
    assert sorted(r["run_id"] for r in rows) == ["staged", "vanilla"]
    assert {r["competition_id"] for r in rows} == {EXAMPLE_TASK}
    runs = ray.data.read_parquet(str(example_runs.out / "_index" / "runs.parquet")).take_all()
    assert sorted(r["run_id"] for r in runs) == ["staged", "vanilla"]


def test_results_lists_runs_and_compares_them(example_runs: ExampleRuns, capsys: pytest.CaptureFixture[str]) -> None:
    out = str(example_runs.out)
    assert cli(["results", out, "--format", "json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert sorted(r["run_id"] for r in listed) == ["staged", "vanilla"]
    assert cli(["results", out, "--run-id", "staged", "vanilla", "--format", "csv"]) == 0
    compared = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert [r["competition_id"] for r in compared] == [EXAMPLE_TASK]
    assert {"status@staged", "score@vanilla", "leaderboard_percentile@staged"} <= set(compared[0])
    assert cli(["results", out, "--run-id", "no-such-run"]) == 1
    assert cli(["results", out, "--run-id", "staged"]) == 0
    assert EXAMPLE_TASK in capsys.readouterr().out


def test_reindex_brings_in_runs_written_before_the_index(example_runs: ExampleRuns, tmp_path: Path,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "old-out"
    shutil.copytree(example_runs.out / example_runs.vanilla, out / "old-run", ignore=shutil.ignore_patterns("_index"))
    info = json.loads((out / "old-run" / "run.json").read_text())
    del info["schema_version"]  # as every run.json before versioning
    (out / "old-run" / "run.json").write_text(json.dumps(info))
    assert cli(["results", str(out)]) == 1  # no index yet: says how to build one
    assert "--reindex" in capsys.readouterr().err
    assert cli(["results", str(out), "--reindex", "--format", "json"]) == 0
    assert [(r["run_id"], r["competitions"]) for r in json.loads(capsys.readouterr().out)] == [("old-run", 1)]
    table = index.read_results(str(out))
    assert table.column("schema_version").to_pylist() == [0]
    assert table.schema.field("run_id").type == pa.string()


def test_a_failing_report_never_fails_the_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                              ray_session: None) -> None:
    import jobs.report
    from tests.helpers.open_tasks import catalog_row
    from tests.helpers.catalogs import run_args, write_catalog

    def broken(*args: object, **kwargs: object) -> str:
        raise RuntimeError("the report broke")

    monkeypatch.setattr(jobs.report, "write_report", broken)
    catalog = write_catalog(tmp_path / "c.parquet", [catalog_row("penguins")])
    out = tmp_path / "out"
    assert cli(run_args(catalog, out, "r1", tmp_path / "cache")) == 0
    assert (out / "r1" / "_SUCCESS").exists() and not (out / "r1" / "report.html").exists()
    assert (out / "_index" / "results" / "run_id=r1" / "part-0.parquet").exists()  # the index is written apart


def test_the_index_of_runs_on_s3_is_built_and_read_through_storage(example_runs: ExampleRuns, s3_bucket: str,
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    source = example_runs.out / example_runs.vanilla
    out = storage.join(s3_bucket, "runs")
    for path in source.rglob("*"):
        if path.is_file():
            storage.write_bytes(storage.join(out, "vanilla", str(path.relative_to(source))), path.read_bytes())
    assert cli(["results", out, "--reindex", "--format", "json"]) == 0
    assert [r["run_id"] for r in json.loads(capsys.readouterr().out)] == ["vanilla"]
    assert storage.exists(storage.join(out, "_index", "results", "run_id=vanilla", "part-0.parquet"))
    table = index.read_results(out, ["vanilla"])
    assert table.column("competition_id").to_pylist() == [EXAMPLE_TASK]
