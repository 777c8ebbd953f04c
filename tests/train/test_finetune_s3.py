"""Fine-tuning with pairs and output on S3 (real SeaweedFS): Ray Train writes its checkpoints
through the pyarrow S3 filesystem and the export lands next to them.

Its own Ray instance starts after the AWS_* variables are set, so the workers inherit them (on a
real cluster they come from the pod or node environment).
"""
from __future__ import annotations

import pandas as pd
import pytest

import storage
from train.config import FinetuneConfig
from train.launcher import run_finetune

pytestmark = pytest.mark.slow


def test_finetune_reads_pairs_from_and_writes_checkpoints_and_adapter_to_s3(s3_bucket, tmp_path):
    import ray

    pairs_uri = storage.join(s3_bucket, "pairs", "pairs.parquet")
    rows = [{"prompt": f"Task {i}: tabular, metric rmse. Plan it.", "completion": "1. Impute.\n2. Ridge.",
             "competition_id": f"t{i}", "rank": 1, "score": 1.0} for i in range(4)]
    storage.write_parquet(pairs_uri, pd.DataFrame(rows))
    out = storage.join(s3_bucket, "ft")
    cfg = FinetuneConfig(pairs=pairs_uri, base="smollm2-135m", out=out, workers=2, max_steps=1,
                         batch_size=2, max_seq_len=64, eval_loss=False)
    ray.init(num_cpus=2, include_dashboard=False)
    try:
        result = run_finetune(cfg)
    finally:
        ray.shutdown()
    assert result.steps == 1 and result.checkpoint_uri.startswith(f"{out}/finetune/checkpoint_")
    assert storage.exists(storage.join(result.checkpoint_uri, "adapter", "adapter_model.safetensors"))
    assert storage.exists(storage.join(out, "adapter", "adapter_config.json"))
    assert storage.exists(storage.join(out, "adapter.gguf"))
    assert storage.read_json(storage.join(out, "metrics.json"))["steps"] == 1
