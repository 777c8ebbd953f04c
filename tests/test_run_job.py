"""`linguacodus run` on real Ray: the SPEC layout, one bad competition never stops a batch, and a
run resumes (also after kill -9 of the driver) without redoing or duplicating work.

The LLM is the `replay` backend over an empty cache: every call fails at once, so each
competition goes through the real job, sandbox, floor and grader in seconds without a model."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

import storage
from jobs.cli import main as cli
from tests.open_tasks import catalog_row

OPEN = Path(__file__).resolve().parents[2] / "shared" / "benchmarks" / "open"
LINGUACODUS = Path(sys.executable).parent / "linguacodus"
pytestmark = [pytest.mark.sandbox, pytest.mark.slow]


def write_catalog(path: Path, rows: list[dict]) -> str:
    pd.DataFrame(rows).to_parquet(path)
    return str(path)


def run_args(catalog: str, out: Path, run_id: str, cache: Path, *extra: str) -> list[str]:
    cache.mkdir(exist_ok=True)
    return ["run", "--catalog", catalog, "--out", str(out), "--run-id", run_id, "--replay",
            "--cache-dir", str(cache), "--concurrency", "1", "--max-fix", "0", *extra]


def test_a_batch_with_bad_rows_still_grades_the_good_ones_and_resumes_without_duplicates(tmp_path, ray_session):
    catalog = write_catalog(tmp_path / "c.parquet", [
        catalog_row("penguins"),
        catalog_row("titanic-categorical"),
        catalog_row("diabetes-progression", metric="no-such-metric"),
        catalog_row("cars-mpg", competition_id="missing-data", data_uri=str(tmp_path / "nowhere")),
    ])
    out = tmp_path / "out"
    assert cli(run_args(catalog, out, "r1", tmp_path / "cache")) == 0
    root = out / "r1"
    results = pd.read_parquet(root / "results.parquet").set_index("competition_id")
    assert sorted(results.index) == ["diabetes-progression", "missing-data", "penguins", "titanic-categorical"]
    assert results.loc["penguins", "status"] == "graded" and results.loc["penguins", "fallback_used"]
    assert results.loc["titanic-categorical", "valid_submission"]
    assert results.loc["diabetes-progression", "status"] == "skipped"
    assert "no-such-metric" in results.loc["diabetes-progression", "error"]
    assert results.loc["missing-data", "status"] == "failed"
    assert (root / "_SUCCESS").exists() and (root / "run.json").exists()
    for name in ("result.json", "solution.py", "submission.csv", "attempts/01/code.py", "llm_calls.jsonl"):
        assert (root / "penguins" / name).exists(), name
    stamp = (root / "penguins" / "result.json").stat().st_mtime_ns

    assert cli(run_args(catalog, out, "r1", tmp_path / "cache")) == 0  # the same run id again
    again = pd.read_parquet(root / "results.parquet")
    assert len(again) == 4 and again["competition_id"].is_unique
    assert (root / "penguins" / "result.json").stat().st_mtime_ns == stamp  # not solved again
    sessions = json.loads((root / "run.json").read_text())["sessions"]
    assert [s["to_solve"] for s in sessions] == [3, 1]  # only the failed row is retried


def test_kill_9_of_the_driver_mid_run_then_the_same_command_finishes_without_redoing_work(tmp_path):
    tasks = ["penguins", "titanic-categorical", "breast-cancer", "cars-mpg"]
    catalog = write_catalog(tmp_path / "c.parquet", [catalog_row(t) for t in tasks])
    out = tmp_path / "out"
    args = [str(LINGUACODUS), *run_args(catalog, out, "k", tmp_path / "cache")]
    env = {**os.environ, "RAY_AUTH_MODE": "disabled"}
    driver = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env,
                              start_new_session=True)
    root = out / "k"
    deadline = time.monotonic() + 600
    try:
        while time.monotonic() < deadline and not any((root / t / "result.json").exists() for t in tasks):
            time.sleep(0.5)
        finished = [t for t in tasks if (root / t / "result.json").exists()]
        assert finished, "no competition finished before the deadline"
        driver.send_signal(signal.SIGKILL)
        driver.wait()
    finally:
        _kill_session(driver.pid)
    assert not (root / "_SUCCESS").exists()
    stamps = {t: (root / t / "result.json").stat().st_mtime_ns for t in tasks if (root / t / "result.json").exists()}

    rerun = subprocess.run(args, capture_output=True, text=True, env=env, timeout=900)
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    results = pd.read_parquet(root / "results.parquet")
    assert sorted(results["competition_id"]) == sorted(tasks) and results["competition_id"].is_unique
    assert all(results["valid_submission"])
    for task, stamp in stamps.items():
        assert (root / task / "result.json").stat().st_mtime_ns == stamp, f"{task} was solved again"
    assert (root / "_SUCCESS").exists()
    assert storage.read_json(str(root / "run.json"))["sessions"][-1]["to_solve"] == len(tasks) - len(stamps)


def _kill_session(sid: int) -> None:
    """Ray processes the killed driver started stay in its session: stop exactly those, by PID."""
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            if os.getsid(int(pid)) == sid:
                os.kill(int(pid), signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
