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
from tests.helpers.open_tasks import catalog_row
from tests.helpers.catalogs import run_args, write_catalog

LINGUACODUS = Path(sys.executable).parent / "linguacodus"
pytestmark = [pytest.mark.sandbox, pytest.mark.slow]



def test_a_batch_with_bad_rows_still_grades_the_good_ones_and_resumes_without_duplicates(tmp_path, ray_session):
    catalog = write_catalog(tmp_path / "c.parquet", [
        catalog_row("penguins", competition_id="PENGUINS"),  # invalid id; must not take over penguins/
        catalog_row("penguins"),
        catalog_row("titanic-categorical"),
        catalog_row("diabetes-progression", metric="no-such-metric"),
        catalog_row("cars-mpg", competition_id="missing-data", data_uri=str(tmp_path / "nowhere")),
        catalog_row("titanic-categorical"),  # the same id twice: one row in results.parquet
    ])
    out = tmp_path / "out"
    assert cli(run_args(catalog, out, "r1", tmp_path / "cache")) == 0
    root = out / "r1"
    results = pd.read_parquet(root / "results.parquet").set_index("competition_id")
    assert sorted(results.index) == ["PENGUINS", "diabetes-progression", "missing-data", "penguins",
                                     "titanic-categorical"]
    assert results.loc["PENGUINS", "status"] == "skipped" and "must match" in results.loc["PENGUINS", "error"]
    assert json.loads((root / "penguins" / "result.json").read_text())["status"] == "graded"
    assert [d["row"] for d in json.loads((root / "run.json").read_text())["catalog_duplicates"]] == [5]
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
    assert len(again) == 5 and again["competition_id"].is_unique
    assert (root / "penguins" / "result.json").stat().st_mtime_ns == stamp  # not solved again
    sessions = json.loads((root / "run.json").read_text())["sessions"]
    assert [s["to_solve"] for s in sessions] == [3, 1]  # only the failed row is retried
    for session, solved in zip(sessions, (3, 1), strict=True):  # throughput and memory of each session
        res = session["resources"]
        assert res["competitions"] == solved and res["tasks_per_hour"] > 0 and res["solver_actors"] == 1
        # a Python process with pandas and Ray loaded holds well over 50 MiB
        assert res["driver_peak_rss_mb"] > 50 and res["solver_peak_rss_mb"] > 50
    # the first session ran the floor's script in the sandbox: pandas and scikit-learn take over 20 MiB
    assert sessions[0]["resources"]["sandbox_peak_mb"] > 20


def _scratch_dirs(tmp: Path) -> list[Path]:
    """The pipeline's temp dirs (staged inputs, sandbox work dirs: lc-*) anywhere below TMPDIR."""
    return [p for p in tmp.rglob("lc-*") if p.is_dir()]


def test_kill_9_of_the_driver_mid_run_then_the_same_command_finishes_without_redoing_work(tmp_path):
    tasks = ["penguins", "titanic-categorical", "breast-cancer", "cars-mpg"]
    catalog = write_catalog(tmp_path / "c.parquet", [catalog_row(t) for t in tasks])
    out = tmp_path / "out"
    args = [str(LINGUACODUS), *run_args(catalog, out, "k", tmp_path / "cache")]
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    # TMPDIR: where the run's temp dirs go, so the test can see what a killed run leaves; Ray's own
    # session files stay in /tmp (its socket paths must stay short).
    env = {**os.environ, "RAY_AUTH_MODE": "disabled", "TMPDIR": str(tmp), "RAY_TMPDIR": "/tmp"}
    driver = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env,
                              start_new_session=True)
    root = out / "k"
    deadline = time.monotonic() + 600
    try:  # kill once a competition is finished and the next one is at work in its temp dirs
        while time.monotonic() < deadline and not (
                any((root / t / "result.json").exists() for t in tasks) and _scratch_dirs(tmp)):
            time.sleep(0.2)
        finished = [t for t in tasks if (root / t / "result.json").exists()]
        assert finished, "no competition finished before the deadline"
        driver.send_signal(signal.SIGKILL)
        driver.wait()
    finally:
        _kill_session(driver.pid)
    assert not (root / "_SUCCESS").exists()
    assert _scratch_dirs(tmp), "the killed run left no temp dirs: nothing to clean up"
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
    assert _scratch_dirs(tmp) == []  # the second session removed what the killed one left behind


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


def test_a_run_with_s3_down_for_60_s_mid_run_ends_with_every_competition_on_its_own_complete_row(
        s3_restartable, tmp_path):
    tasks = ["penguins", "titanic-categorical", "breast-cancer", "cars-mpg"]
    bucket = f"s3://{s3_restartable.make_bucket()}"
    catalog = f"{bucket}/catalog.parquet"  # in S3; the task data stays local (the sandbox binds it)
    storage.write_parquet(catalog, pd.DataFrame([catalog_row(t) for t in tasks]))
    root = f"{bucket}/runs/outage"
    log = tmp_path / "run.log"
    (tmp_path / "cache").mkdir()  # replay from an empty cache: no LLM at all, the floor grades each row
    env = {**os.environ, "RAY_AUTH_MODE": "disabled", "LINGUACODUS_STORAGE_RETRY_S": "300"}
    with open(log, "w") as sink:
        driver = subprocess.Popen([str(LINGUACODUS), "run", "--catalog", catalog, "--out", f"{bucket}/runs",
                                   "--run-id", "outage", "--replay", "--cache-dir", str(tmp_path / "cache"),
                                   "--concurrency", "1", "--max-fix", "0", "--search", "off"],
                                  stdout=sink, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    try:
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline and driver.poll() is None and not any(
                storage.exists(f"{root}/{t}/result.json") for t in tasks):
            time.sleep(0.5)
        done_before = [t for t in tasks if storage.exists(f"{root}/{t}/result.json")]
        assert done_before and len(done_before) < len(tasks), (done_before, log.read_text()[-3000:])
        s3_restartable.kill()  # mid-run: the next competition is at work and about to write
        time.sleep(60)
        s3_restartable.restart()
        back = time.time()
        code = driver.wait(timeout=900)
    finally:
        _kill_session(driver.pid)
    assert code == 0, log.read_text()[-5000:]
    assert "Traceback" not in log.read_text()
    results = storage.read_parquet(f"{root}/results.parquet").set_index("competition_id")
    assert sorted(results.index) == sorted(tasks) and results.index.is_unique
    assert (results["status"] == "graded").all(), results[["status", "error"]]
    assert storage.exists(f"{root}/_SUCCESS")
    assert sum(storage.read_json(f"{root}/run.json")["counts"].values()) == len(tasks)
    client = s3_restartable.client()
    name = bucket[len("s3://"):]
    written_after = [t for t in tasks if client.head_object(Bucket=name, Key=f"runs/outage/{t}/result.json")
                     ["LastModified"].timestamp() >= back - 1]
    assert written_after, "no competition finished after the outage: it did not hit the run mid-way"
    for uri in storage.list_uris(root, recursive=True):  # nothing half-written: every artifact reads whole
        if uri.endswith(".json"):
            storage.read_json(uri)
        elif uri.endswith(".jsonl"):
            [json.loads(line) for line in storage.read_text(uri).splitlines()]
        elif uri.endswith(".csv"):
            storage.read_csv(uri)
    for task in tasks:
        row = storage.read_json(f"{root}/{task}/result.json")
        assert row["status"] == results.loc[task, "status"]
        for artifact in ("submission.csv", "solution.py", "llm_calls.jsonl", "attempts/01/result.json"):
            assert storage.exists(f"{root}/{task}/{artifact}"), (task, artifact)
