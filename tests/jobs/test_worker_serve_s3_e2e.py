"""Issue 4, done when: a local Ray, a SeaweedFS S3 server, the Serve app with the embedded model, a
message for two open tasks dropped into s3://BUCKET/inbox/, `linguacodus worker --once --llm-url SERVE`
-> graded results in S3 and the message under done/; a malformed message lands in dead/.

The model is SmolLM2-135M by default (the test is about plumbing; the floor grades a row whose LLM code
fails); set LINGUACODUS_E2E_MODEL=qwen2.5-coder-0.5b to run it with the default instruction model.
"""
from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

import storage
from jobs.cli import main as cli
from jobs.serve.command import start
from tests.helpers.net import free_port
from tests.helpers.catalogs import one_task_catalog

MODEL = os.environ.get("LINGUACODUS_E2E_MODEL", "smollm2-135m")
TASKS = ("penguins", "breast-cancer")


@pytest.fixture
def serve_with_s3(ray_with_s3: None) -> Iterator[str]:
    """Ray in this process (its workers get the AWS_* env of the test server) + the Serve app."""
    from ray import serve

    try:
        # one engine thread: on a shared machine llama.cpp's two spinning threads lose badly to other load
        yield start({"model": MODEL, "num_cpus": 0.5, "n_threads": 1, "n_ctx": 8192, "n_parallel": 2,
                     "api_key_env": None}, host="127.0.0.1", port=free_port())
    finally:
        serve.shutdown()


@pytest.mark.slow
@pytest.mark.sandbox
def test_a_message_in_the_s3_inbox_is_run_through_serve_and_graded(
        s3_bucket: str, tmp_path: Path, serve_with_s3: str) -> None:
    inbox = f"{s3_bucket}/inbox/"
    request = {"catalog": one_task_catalog(tmp_path, s3_bucket, TASKS), "out": f"{s3_bucket}/results",
               "run_id": "issue4", "options": {"mode": "vanilla", "max_fix": 0, "timeout": 120, "concurrency": 2}}
    storage.write_text(f"{inbox}0001-two-tasks.json", json.dumps(request))
    storage.write_text(f"{inbox}0002-malformed.json", json.dumps({"catalog": request["catalog"]}))  # no "out"

    # exit 1: one message (the malformed one) was dead-lettered; the other was run
    assert cli(["worker", "--inbox", inbox, "--once", "--llm-url", serve_with_s3, "--model", MODEL]) == 1

    done = storage.read_json(f"{s3_bucket}/done/0001-two-tasks.json")
    assert done["result"]["results_parquet"] == f"{s3_bucket}/results/issue4/results.parquet"
    rows = storage.read_parquet(done["result"]["results_parquet"]).set_index("competition_id")
    assert sorted(rows.index) == sorted(TASKS)
    assert set(rows["status"]) == {"graded"} and rows["score"].notna().all(), rows[["status", "error"]]
    # the LLM path really went through Serve: tokens counted, under the served model's name
    assert (rows["prompt_tokens"] > 0).all() and (rows["completion_tokens"] > 0).all()
    assert set(rows["model"]) == {MODEL}
    assert storage.exists(f"{s3_bucket}/results/issue4/_SUCCESS")
    dead = storage.read_json(f"{s3_bucket}/dead/0002-malformed.json")
    assert "out: Field required" in dead["reason"]
    assert storage.list_uris(inbox) == []
