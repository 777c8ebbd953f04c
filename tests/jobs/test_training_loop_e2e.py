"""Issue 5's whole loop on CPU, in one test: graded runs -> corpus -> extracted ranked pairs ->
LoRA fine-tuning on 2 Ray Train workers with checkpoints in S3 -> the adapter served by Ray Serve ->
a pipeline run through that endpoint produces a graded row.

SmolLM2-135M keeps it to minutes; the first runs are solved by the floor (replay backend over an
empty cache), so the corpus holds real graded code without waiting on a model."""
from __future__ import annotations

import logging
import os
import socket

import pandas as pd
import pytest

import storage
from jobs.cli import main as cli
from tests.helpers.open_tasks import catalog_row

pytestmark = [pytest.mark.slow, pytest.mark.sandbox]
AWS_VARS = ("AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_REGION")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_runs_to_corpus_to_pairs_to_finetune_to_serve_to_a_graded_row(tmp_path, s3_env, s3_bucket):
    import ray
    from ray import serve

    from jobs.serve.command import start

    catalog = tmp_path / "c.parquet"
    pd.DataFrame([catalog_row(t) for t in ("penguins", "titanic-categorical", "cars-mpg")]).to_parquet(catalog)
    (tmp_path / "empty-cache").mkdir()
    if ray.is_initialized():
        ray.shutdown()
    ray.init(address="local", num_cpus=2, include_dashboard=False, logging_level=logging.WARNING,
             runtime_env={"env_vars": {k: os.environ[k] for k in AWS_VARS if k in os.environ}})
    try:
        assert cli(["run", "--catalog", str(catalog), "--out", str(tmp_path / "runs"), "--run-id", "seed",
                    "--replay", "--cache-dir", str(tmp_path / "empty-cache"), "--max-fix", "0", "--search", "off"]) == 0
        corpus = str(tmp_path / "corpus.parquet")
        assert cli(["corpus", "from-runs", str(tmp_path / "runs" / "seed"), "-o", corpus]) == 0
        pairs = str(tmp_path / "pairs.parquet")
        assert cli(["extract", "--corpus", corpus, "--out", pairs, "--model", "smollm2-135m", "--n-ctx", "4096",
                    "--concurrency", "1"]) == 0
        assert len(pd.read_parquet(pairs)) == 3

        out = storage.join(s3_bucket, "ft")
        assert cli(["finetune", "--pairs", pairs, "--base", "smollm2-135m", "--out", out, "--workers", "2",
                    "--max-steps", "20", "--batch-size", "2", "--max-seq-len", "512",
                    "--checkpoint-every", "10"]) == 0
        metrics = storage.read_json(storage.join(out, "metrics.json"))
        assert metrics["eval_loss_end"] < metrics["eval_loss_start"]
        assert storage.list_uris(storage.join(out, "finetune"))  # checkpoints in S3
        adapter = storage.join(out, "adapter.gguf")
        assert storage.exists(adapter)

        url = start({"model": "smollm2-135m", "served_model_name": "linguacodus-instruct",
                     "lora_adapters": [{"name": "linguacodus-instruct", "path": adapter}], "num_cpus": 0.5,
                     "n_threads": 1, "n_parallel": 1, "api_key_env": None},
                    host="127.0.0.1", port=free_port())
        assert cli(["run", "--catalog", str(catalog), "--out", str(tmp_path / "runs"), "--run-id", "tuned",
                    "--only", "penguins", "--llm-url", url, "--model", "linguacodus-instruct", "--max-fix", "1",
                    "--concurrency", "1", "--search", "off"]) == 0
        row = pd.read_parquet(tmp_path / "runs" / "tuned" / "results.parquet").iloc[0]
        assert row["status"] == "graded" and row["valid_submission"]
        assert row["model"] == "linguacodus-instruct" and row["completion_tokens"] > 0
    finally:
        serve.shutdown()
        ray.shutdown()
