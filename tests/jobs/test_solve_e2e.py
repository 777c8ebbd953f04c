"""The real thing on a small open task: the embedded default model, Ray, the sandbox and the grader
end to end, every artifact stored; the recorded replies replay the run offline with no model; and
the same job writes its results to a real S3 server."""
from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

import storage
from actors.llm.adapters import shipped
from jobs.cli import main as cli
from tests.helpers.open_tasks import catalog_row
from tests.helpers.catalogs import write_catalog

pytestmark = [pytest.mark.slow, pytest.mark.sandbox]
TASK = "titanic-categorical"  # 3 categorical features: small, and the classic failure mode of small models


def test_the_default_model_solves_a_small_task_end_to_end_and_the_run_replays_offline(tmp_path, ray_session):
    catalog = write_catalog(tmp_path / "c.parquet", [catalog_row(TASK)])
    out, cache = tmp_path / "out", tmp_path / "llm-cache"
    # the search off: its trials depend on time, the replay must reproduce the run exactly
    base = ["run", "--catalog", catalog, "--out", str(out), "--concurrency", "1", "--cache-dir", str(cache),
            "--search", "off"]
    assert cli([*base, "--run-id", "live"]) == 0
    row = pd.read_parquet(out / "live" / "results.parquet").iloc[0]
    assert row["status"] == "graded" and row["valid_submission"]
    # the default: the base model, with the shipped adapter on the instructor's calls (named in the row)
    assert row["model"] == f"qwen2.5-coder-0.5b+lora:{shipped('qwen2.5-coder-0.5b').path.stem}"
    assert row["prompt_tokens"] > 0 and row["completion_tokens"] > 0
    assert row["seconds_llm"] > 0 and row["attempts"] >= 1
    folder = out / "live" / TASK
    instructions = json.loads((folder / "instructions.json").read_text())
    assert len(instructions["candidates"]) == 3 and len(instructions["critiques"]) == 3
    assert instructions["refined"]["model"] and instructions["reasons"]
    calls = [json.loads(line) for line in (folder / "llm_calls.jsonl").read_text().splitlines()]
    stages = sorted(f.stem for f in (folder / "stages").glob("*.py"))
    assert len(stages) >= 2  # the plan's stages, each written by the model
    assert len(calls) >= 3 + len(stages)  # instructor, critic, resolver, then one call per stage at least
    for name in ("result.json", "solution.py", "submission.csv", "attempts/01/code.py", "attempts/01/stdout.txt",
                 "attempts/01/stderr.txt", "attempts/01/result.json"):
        assert (folder / name).exists(), name
    assert json.loads((folder / "result.json").read_text())["details"]["facts"]["n_train"] == 987
    assert (out / "live" / "_SUCCESS").exists()
    # the LLM actor's memory in run.json: the 469 MiB of weights are mapped and read, so well over 300
    resources = json.loads((out / "live" / "run.json").read_text())["sessions"][-1]["resources"]
    assert resources["llm_actor_peak_rss_mb"] > 300

    # Offline replay: the same run from the recorded replies, with no model at all.
    assert cli([*base, "--run-id", "replayed", "--replay"]) == 0
    replayed = pd.read_parquet(out / "replayed" / "results.parquet").iloc[0]
    assert replayed["valid_submission"] == row["valid_submission"]
    assert replayed["fallback_used"] == row["fallback_used"]
    assert (out / "replayed" / TASK / "solution.py").read_text() == (folder / "solution.py").read_text()


def test_results_go_to_an_s3_server(tmp_path, s3_env, s3_bucket, ray_session):
    catalog = write_catalog(tmp_path / "c.parquet", [catalog_row(TASK)])
    catalog_uri = storage.join(s3_bucket, "catalogs", "one.parquet")
    storage.write_bytes(catalog_uri, Path(catalog).read_bytes())
    out = storage.join(s3_bucket, "runs")
    assert cli(["run", "--catalog", catalog_uri, "--out", out, "--run-id", "s3run", "--model", "smollm2-135m",
                "--concurrency", "1", "--max-fix", "1", "--search", "off"]) == 0
    root = storage.join(out, "s3run")
    results = storage.read_parquet(storage.join(root, "results.parquet"))
    assert list(results["competition_id"]) == [TASK] and bool(results["valid_submission"].iloc[0])
    for name in ("result.json", "solution.py", "submission.csv", "llm_calls.jsonl"):
        assert storage.exists(storage.join(root, TASK, name)), name
    assert storage.exists(storage.join(root, "_SUCCESS")) and storage.exists(storage.join(root, "run.json"))
